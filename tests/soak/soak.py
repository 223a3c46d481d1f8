"""Soak: `scripts/soak [--clients 64] [--minutes 10]` (see the script's header)."""
import argparse
import collections
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import psycopg2.errors
import pyarrow as pa
import pyarrow.parquet as pq
import pymysql

EXPECTED = {
    "57014": "canceled or timed out (asked for)",
    "42601": "syntax error (asked for)",
    "42P01": "missing table (asked for)",
    "42703": "missing column (asked for)",
}


def log(msg):
    print(f"soak: {msg}", flush=True)


# ---------------------------------------------------------------- data

def load(workdir, name, rows):
    pg = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    pg.autocommit = True
    pg.cursor().execute(f"CREATE DATABASE {name}")
    db = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=name)
    db.autocommit = True
    db.cursor().execute(
        "CREATE TABLE members (id int PRIMARY KEY, org text NOT NULL, amount numeric(12,2));"
        f"INSERT INTO members SELECT i, 'ORG' || (i % 20), (i % 997) * 1.25 FROM generate_series(1, {rows}) i;"
        "ANALYZE members;")
    my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with my.cursor() as c:
        c.execute(f"CREATE DATABASE {name}")
        c.execute(f"CREATE TABLE {name}.calls (id INT PRIMARY KEY, org VARCHAR(10) NOT NULL, duration_ms INT, fee DECIMAL(10,4))")
        for start in range(0, rows * 2, 5000):
            values = ",".join(f"({i},'ORG{i % 20}',{i % 1000},{(i % 313) / 100:.4f})" for i in range(start, min(start + 5000, rows * 2)))
            c.execute(f"INSERT INTO {name}.calls VALUES {values}")
    n = rows * 5
    pqdir = workdir / "pq" / "s" / "events"
    pqdir.mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array(range(n), pa.int64()),
                             "org": pa.array([f"ORG{i % 20}" for i in range(n)]),
                             "v": pa.array([(i * 7919) % 10007 for i in range(n)], pa.int64())}),
                   pqdir / "data.parquet", row_group_size=65536)
    small = workdir / "pq" / "s" / "small"
    small.mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array(range(3000), pa.int64()),
                             "v": pa.array([(i * 7919) % 10007 for i in range(3000)], pa.int64())}), small / "data.parquet")


def drop(name):
    pg = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    pg.autocommit = True
    pg.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with my.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS {name}")


# ---------------------------------------------------------------- the server

class Server:
    def __init__(self, binary, workdir, name, port):
        cats = workdir / "catalogs"
        cats.mkdir()
        (cats / "pg.toml").write_text(f'connector = "postgres"\nhost = "127.0.0.1"\nport = 5432\nuser = "postgres"\n'
                                      f'database = "{name}"\nsslmode = "disable"\nmax_connections = 8\n')
        (cats / "my.toml").write_text(f'connector = "mysql"\nurl = "mysql://root@127.0.0.1:3306/{name}"\n'
                                      f'sslmode = "disable"\nmax_connections = 8\n')
        (cats / "pq.toml").write_text(f'connector = "parquet"\nlocation = "{(workdir / "pq").as_uri()}/"\n')
        config = workdir / "fedsql.toml"
        config.write_text(f'data_dir = "{workdir / "data"}"\n[limits]\nmemory = "1GiB"\nquery_memory = "256MiB"\n'
                          '[shutdown]\ngrace = "10s"\n')
        self.log = open(workdir / "fedsql.log", "w")
        self.proc = subprocess.Popen([binary, "serve", "--catalogs", str(cats), "--listen", f"127.0.0.1:{port}",
                                      "--config", str(config)], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, RUST_LOG="warn"))
        self.port = port
        deadline = time.time() + 60
        while True:
            try:
                psycopg2.connect(**self.dsn()).close()
                return
            except psycopg2.OperationalError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"fedsql did not start: {(workdir / 'fedsql.log').read_text()[-2000:]}")
                time.sleep(0.2)

    def dsn(self):
        return dict(host="127.0.0.1", port=self.port, user="soak", dbname="fedsql")

    def rss_mib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


def source_connections(name):
    pg = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    cur = pg.cursor()
    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'fedsql'", (name,))
    n_pg = cur.fetchone()[0]
    pg.close()
    my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    with my.cursor() as c:
        c.execute("SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = %s", (name,))
        n_my = c.fetchone()[0]
    my.close()
    return n_pg, n_my


# ---------------------------------------------------------------- the mix

def disconnect_mid_stream(port, sql):
    """Starts a large result over a raw socket and hangs up after the first 64 KiB."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    params = b"user\0soak\0database\0fedsql\0\0"
    s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    buf = b""
    while b"Z\0\0\0\x05" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("server closed during startup")
        buf += chunk
    q = sql.encode() + b"\0"
    s.sendall(b"Q" + struct.pack("!i", 4 + len(q)) + q)
    got = 0
    while got < 65536:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    s.close()


class Mix:
    def __init__(self, server, name, rows):
        self.server, self.name, self.rows = server, name, rows
        self.heavy = "SELECT count(*) FROM pq.s.small a JOIN pq.s.small b ON a.v < b.v + a.id % 3"
        self.kinds = [
            ("point lookup", 30, self.lookup),
            ("aggregate mysql", 10, lambda c: self.q(c, f"SELECT org, count(*), avg(duration_ms), sum(fee) FROM my.{name}.calls GROUP BY org")),
            ("aggregate postgres", 10, lambda c: self.q(c, "SELECT org, count(*), stddev(amount), sum(amount) FROM pg.public.members GROUP BY org")),
            ("aggregate parquet", 10, lambda c: self.q(c, "SELECT org, count(*), avg(v) FROM pq.s.events GROUP BY org")),
            ("cross-source join", 5, lambda c: self.q(c, f"SELECT m.org, count(*), sum(c.fee) FROM pg.public.members m JOIN my.{name}.calls c ON c.id = m.id WHERE m.id < 2000 GROUP BY m.org")),
            ("large stream", 5, lambda c: self.q(c, "SELECT id, org, v FROM pq.s.events")),
            ("catalog", 5, lambda c: self.q(c, "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace")),
            ("cancel", 5, self.cancel),
            ("timeout", 5, self.timeout),
            ("bad sql", 5, self.bad_sql),
            ("disconnect mid-stream", 5, lambda c: disconnect_mid_stream(self.server.port, "SELECT id, org, v FROM pq.s.events")),
            ("new connection", 5, self.reconnect),
        ]
        self.weights = [k[1] for k in self.kinds]

    def q(self, conn, sql, *args):
        cur = conn.cursor()
        cur.execute(sql, args or None)
        return cur.fetchall()

    def lookup(self, conn):
        i = random.randint(1, self.rows)
        rows = self.q(conn, "SELECT id, org, amount FROM pg.public.members WHERE id = %s", i)
        if len(rows) != 1 or rows[0][0] != i:
            raise AssertionError(f"wrong answer: member {i} came back as {rows}")

    def cancel(self, conn):
        t = threading.Timer(random.uniform(0.05, 0.8), conn.cancel)
        t.start()
        try:
            self.q(conn, self.heavy)
        finally:
            t.cancel()

    def timeout(self, conn):
        cur = conn.cursor()
        cur.execute("SET statement_timeout = '200ms'")
        try:
            self.q(conn, self.heavy)
        finally:
            cur.execute("SET statement_timeout = 0")

    def bad_sql(self, conn):
        self.q(conn, random.choice(["SELEC 1", "SELECT * FROM pg.public.nope", "SELECT nope FROM pg.public.members"]))

    def reconnect(self, conn):
        c = psycopg2.connect(**self.server.dsn())
        c.autocommit = True
        self.q(c, "SELECT 1")
        c.close()


def client(mix, stop, stats, lock):
    conn = None
    while not stop.is_set():
        if conn is None or conn.closed:
            try:
                conn = psycopg2.connect(**mix.server.dsn(), connect_timeout=30)
                conn.autocommit = True
            except Exception as e:
                with lock:
                    stats["unexpected"][f"connect: {type(e).__name__}: {str(e).strip()[:120]}"] += 1
                time.sleep(0.5)
                continue
        name, _, fn = random.choices(mix.kinds, weights=mix.weights)[0]
        t0 = time.perf_counter()
        outcome = "ok"
        try:
            fn(conn)
        except psycopg2.Error as e:
            code = e.pgcode
            outcome = code if code in EXPECTED else f"{name}: {code} {str(e).strip()[:160]}"
            if code is None:
                conn = None
        except Exception as e:
            outcome = f"{name}: {type(e).__name__}: {str(e).strip()[:160]}"
            conn = None
        elapsed = time.perf_counter() - t0
        with lock:
            stats["ops"][name] += 1
            stats["seconds"][name] += elapsed
            if outcome == "ok":
                pass
            elif outcome in EXPECTED:
                stats["expected"][f"{name}: {outcome}"] += 1
            else:
                stats["unexpected"][outcome] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fedsql", required=True)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--report")
    args = ap.parse_args()
    name = f"fedsql_soak_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="fedsql-soak-") as tmp:
        workdir = Path(tmp)
        try:
            log(f"loading {name}")
            load(workdir, name, args.rows)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            server = Server(args.fedsql, workdir, name, port)
            report = run(server, name, args)
            if args.report:
                Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
        finally:
            drop(name)
    sys.exit(0 if report["passed"] else 1)


def run(server, name, args):
    mix = Mix(server, name, args.rows)
    stats = {k: collections.Counter() for k in ("ops", "expected", "unexpected")}
    stats["seconds"] = collections.Counter()
    lock, stop = threading.Lock(), threading.Event()
    threads = [threading.Thread(target=client, args=(mix, stop, stats, lock), daemon=True) for _ in range(args.clients)]
    start = time.time()
    for t in threads:
        t.start()
    duration = args.minutes * 60
    warm = min(60.0, duration / 5)
    samples = []
    while time.time() - start < duration:
        time.sleep(min(15.0, duration / 20))
        with lock:
            ops = sum(stats["ops"].values())
        sample = dict(t=round(time.time() - start), rss_mib=round(server.rss_mib(), 1), fds=server.fds(),
                      ops=ops, sources=source_connections(name))
        samples.append(sample)
        log(f"{sample['t']:>4}s  rss {sample['rss_mib']:7.1f} MiB  fds {sample['fds']:4}  ops {ops:7}  "
            f"source connections (pg, mysql) {sample['sources']}  unexpected {sum(stats['unexpected'].values())}")
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.time() - start
    time.sleep(5)  # idle: what is still held now is held for good
    idle = dict(rss_mib=round(server.rss_mib(), 1), fds=server.fds(), sources=source_connections(name))
    alive = psycopg2.connect(**server.dsn())
    alive.cursor().execute("SELECT 1")
    alive.close()
    server.proc.send_signal(signal.SIGTERM)
    exit_code = server.proc.wait(60)

    after_warm = [s for s in samples if s["t"] >= warm] or samples
    rss_start, rss_end = after_warm[0]["rss_mib"], samples[-1]["rss_mib"]
    growth = (rss_end - rss_start) / rss_start * 100
    first_fds = samples[0]["fds"]
    unexpected = sum(stats["unexpected"].values())
    checks = {
        "no unexpected errors": unexpected == 0,
        "RSS growth after warm-up under 10 %": growth < 10,
        "file descriptors back near the start once idle": idle["fds"] <= first_fds + 8,
        "source connections within the pools once idle": idle["sources"][0] <= 8 + 1 and idle["sources"][1] <= 8 + 1,
        "SIGTERM exits 0": exit_code == 0,
    }
    total = sum(stats["ops"].values())
    log(f"{args.clients} clients, {elapsed / 60:.1f} min: {total} operations, {total / elapsed:.1f}/s")
    for kind, n in stats["ops"].most_common():
        log(f"  {kind:<24} {n:7}  mean {stats['seconds'][kind] / n * 1000:8.1f} ms")
    log("expected errors (asked for):")
    for k, n in stats["expected"].most_common():
        log(f"  {n:7}  {k}")
    log(f"unexpected errors: {unexpected}")
    for k, n in stats["unexpected"].most_common():
        log(f"  {n:7}  {k}")
    log(f"RSS after warm-up ({after_warm[0]['t']} s) {rss_start:.1f} MiB, at the end {rss_end:.1f} MiB ({growth:+.1f} %), "
        f"idle {idle['rss_mib']:.1f} MiB")
    log(f"file descriptors: first sample {first_fds}, idle {idle['fds']}; source connections idle (pg, mysql) {idle['sources']}")
    for check, ok in checks.items():
        log(f"  {'PASS' if ok else 'FAIL'}  {check}")
    return dict(clients=args.clients, minutes=round(elapsed / 60, 2), operations=total, per_second=round(total / elapsed, 1),
                ops=dict(stats["ops"]), expected=dict(stats["expected"]), unexpected=dict(stats["unexpected"]),
                samples=samples, idle=idle, rss_growth_pct=round(growth, 2), checks=checks, passed=all(checks.values()))


if __name__ == "__main__":
    main()
