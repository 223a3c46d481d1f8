"""Raw-socket fuzzer: malformed protocol messages and mutated SQL against a running fedsql.

`scripts/fuzz [--seconds 300] [--seed 1]` serves a Parquet catalog, then sends, for the
given time, inputs of these kinds, each on its own connection:
- random bytes instead of a startup packet;
- a valid startup, then messages of random type, length (negative, huge, short) and body;
- a valid startup, then extended-protocol messages with wrong counts, formats and names;
- mutated SQL (inserted, deleted, swapped characters and tokens of real queries).
After every input the server must still accept a connection and answer SELECT 1; any
XX000 answer is reported with its input (XX000 is a bug). Exits non-zero on a crash, a
hang, or a panic in the server's log."""
import argparse
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SQL = [
    "SELECT count(*), sum(v), avg(v) FROM pq.s.t WHERE id < 100",
    "SELECT id, v FROM pq.s.t ORDER BY v DESC NULLS LAST LIMIT 5 OFFSET 2",
    "SELECT a.id FROM pq.s.t a JOIN pq.s.t b ON a.id = b.v WHERE a.v BETWEEN 3 AND 9",
    "SELECT v % 7 AS k, count(DISTINCT id) FROM pq.s.t GROUP BY 1 HAVING count(*) > 1",
    "SELECT CAST(v AS numeric(10,2)) / 3, upper('abc'), now() FROM pq.s.t LIMIT 3",
    "SELECT * FROM pq.s.t WHERE id IN (SELECT v FROM pq.s.t WHERE v < 10) UNION ALL SELECT 1, 2",
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
    "SELECT 'it''s', E'\\x41', $$dollar$$, 1e308 * 10, -9223372036854775808, 0.1 + 0.2",
    "WITH x AS (SELECT id FROM pq.s.t) SELECT count(*) FROM x WHERE id NOT IN (SELECT NULL::bigint)",
    "SET statement_timeout = '1s'; SHOW statement_timeout; RESET statement_timeout",
    "COPY (SELECT id FROM pq.s.t LIMIT 10) TO STDOUT WITH (FORMAT csv)",
    "EXPLAIN SELECT id FROM pq.s.t WHERE v = 1",
]
TOKENS = ["(", ")", ",", "'", "\"", ";", "NULL", "SELECT", "FROM", "WHERE", "JOIN", "ON", "::", "$1", "*", "%",
          "\\", "\0", "0", "-", "9" * 40, "'" * 3, "ROW(", "ARRAY[", "]", "e'", "$$", "--", "/*", "é", "한", "😀"]


def msg(kind, body):
    return kind + struct.pack("!i", 4 + len(body)) + body


def startup(user="fuzz"):
    params = f"user\0{user}\0database\0fedsql\0\0".encode()
    return struct.pack("!ii", 8 + len(params), 196608) + params


def cstr(s):
    return s.encode("utf-8", "surrogatepass") + b"\0"


def mutate_sql(rng):
    s = rng.choice(SQL)
    for _ in range(rng.randint(1, 4)):
        i = rng.randint(0, len(s))
        op = rng.random()
        if op < 0.3:
            s = s[:i] + rng.choice(TOKENS) + s[i:]
        elif op < 0.55:
            j = min(len(s), i + rng.randint(1, 8))
            s = s[:i] + s[j:]
        elif op < 0.8:
            words = s.split(" ")
            a, b = rng.randrange(len(words)), rng.randrange(len(words))
            words[a], words[b] = words[b], words[a]
            s = " ".join(words)
        else:
            s = s[:i] + chr(rng.randint(1, 0x2FFF)) + s[i:]
    return s


def case(rng):
    """(description, bytes to send after connecting)."""
    kind = rng.random()
    if kind < 0.1:
        return "random bytes as startup", os.urandom(rng.randint(1, 200)) if rng.random() < 0.5 else \
            struct.pack("!i", rng.choice([-1, 0, 3, 8, 1 << 30])) + os.urandom(rng.randint(0, 40))
    head = startup()
    if kind < 0.35:
        out = b""
        for _ in range(rng.randint(1, 4)):
            t = bytes([rng.choice(b"QPBEDSCHXfdcpF" + bytes([rng.randint(0, 255)]))])
            length = rng.choice([rng.randint(4, 64), -1, 0, 2, 1 << 30, 0x7FFFFFFF])
            body = os.urandom(rng.randint(0, 64))
            out += t + struct.pack("!i", length) + body
        return "random messages", head + out
    if kind < 0.6:
        sql = rng.choice(SQL + [mutate_sql(rng)])
        nparams = rng.choice([0, 1, 2, 65535, -1 & 0xFFFF])
        parse = msg(b"P", cstr(rng.choice(["", "s1"])) + cstr(sql) + struct.pack("!h", rng.choice([0, 1, 3])) +
                    b"".join(struct.pack("!i", rng.choice([0, 20, 23, 25, 1700, 999999])) for _ in range(rng.randint(0, 3))))
        params = b"".join(struct.pack("!i", rng.choice([-1, 0, 4, 8, 1 << 20])) + os.urandom(rng.randint(0, 8))
                          for _ in range(rng.randint(0, 3)))
        bind = msg(b"B", cstr(rng.choice(["", "p1"])) + cstr(rng.choice(["", "s1", "nope"])) +
                   struct.pack("!h", rng.choice([0, 1, 2])) + struct.pack("!h", rng.choice([0, 1, 2])) * rng.randint(0, 2) +
                   struct.pack("!H", nparams) + params +
                   struct.pack("!h", rng.choice([0, 1, 5])) + struct.pack("!h", rng.choice([0, 1, 7])) * rng.randint(0, 2))
        describe = msg(b"D", rng.choice([b"S", b"P", b"Z"]) + cstr(rng.choice(["", "s1", "p1"])))
        execute = msg(b"E", cstr(rng.choice(["", "p1"])) + struct.pack("!i", rng.choice([0, 1, -5])))
        parts = [parse, bind, describe, execute, msg(b"S", b"")]
        if rng.random() < 0.3:
            rng.shuffle(parts)
        if rng.random() < 0.3:
            cut = rng.randint(0, sum(map(len, parts)))
            return "extended protocol, truncated", head + b"".join(parts)[:cut]
        return "extended protocol", head + b"".join(parts)
    return "mutated SQL", head + msg(b"Q", cstr(mutate_sql(rng)))


def exchange(port, data, limit=10.0):
    """Sends `data`, then Sync and Terminate; returns everything answered until the close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    got = b""
    try:
        try:
            s.sendall(data)
            s.sendall(msg(b"S", b"") + msg(b"X", b""))
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server hung up on a malformed message: read what it said before
        deadline = time.time() + limit
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        else:
            raise TimeoutError("no close within the limit")
    except (ConnectionResetError, BrokenPipeError, OSError) as e:
        if isinstance(e, (TimeoutError, socket.timeout)):
            raise
    finally:
        s.close()
    return got


def error_codes(reply):
    """SQLSTATEs of the ErrorResponses in `reply`."""
    codes, i = [], 0
    while i + 5 <= len(reply):
        t, n = reply[i:i + 1], struct.unpack("!i", reply[i + 1:i + 5])[0]
        if t == b"E":
            for field in reply[i + 5:i + 1 + n].split(b"\0"):
                if field[:1] == b"C":
                    codes.append(field[1:].decode())
        i += 1 + max(n, 4)
    return codes


def classify_panics(log):
    """(origin, where) per panic in the server log (RUST_BACKTRACE=1): origin is the
    first of `pgwire::` or `fedsql::` among the backtrace's frames, top down."""
    out = []
    blocks = log.split("panicked at ")[1:]
    for block in blocks:
        where = block.split("\n", 1)[0].rstrip(":")
        origin = "unknown"
        for line in block.splitlines()[1:]:
            if "pgwire::" in line:
                origin = "pgwire"
                break
            if "fedsql::" in line:
                origin = "fedsql"
                break
        if "/pgwire-" in where:
            origin = "pgwire"
        out.append((origin, where.split("/src/", 1)[-1] if "/registry/" in where else where))
    return out


def healthy(port):
    reply = exchange(port, startup() + msg(b"Q", cstr("SELECT 1")))
    return b"D" in reply and b"C\0\0\0\rSELECT 1\0" in reply


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fedsql", required=True)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="fedsql-fuzz-") as tmp:
        tmp = Path(tmp)
        import pyarrow as pa
        import pyarrow.parquet as pq
        (tmp / "pq/s/t").mkdir(parents=True)
        pq.write_table(pa.table({"id": pa.array(range(1000), pa.int64()), "v": pa.array([i % 37 for i in range(1000)], pa.int64())}),
                       tmp / "pq/s/t/data.parquet")
        (tmp / "catalogs").mkdir()
        (tmp / "catalogs/pq.toml").write_text(f'connector = "parquet"\nlocation = "{(tmp / "pq").as_uri()}/"\n')
        (tmp / "fedsql.toml").write_text(f'data_dir = "{tmp / "data"}"\n')
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log_path = tmp / "fedsql.log"
        server = subprocess.Popen([args.fedsql, "serve", "--catalogs", str(tmp / "catalogs"), "--listen", f"127.0.0.1:{port}",
                                   "--config", str(tmp / "fedsql.toml")], stderr=open(log_path, "w"),
                                  env=dict(os.environ, RUST_LOG="warn", RUST_BACKTRACE="1"))
        for _ in range(300):
            try:
                if healthy(port):
                    break
            except OSError:
                time.sleep(0.1)
        counts, internal, failures = {}, [], []
        start = time.time()
        while time.time() - start < args.seconds:
            what, data = case(rng)
            counts[what] = counts.get(what, 0) + 1
            try:
                reply = exchange(port, data)
                if "XX000" in error_codes(reply):
                    internal.append((what, data[:300]))
            except (TimeoutError, socket.timeout):
                failures.append(("hang", what, data[:300]))
            except OSError as e:
                failures.append((f"connection: {e}", what, data[:300]))
            if sum(counts.values()) % 25 == 0 or failures:
                try:
                    if not healthy(port):
                        failures.append(("SELECT 1 failed after", what, data[:300]))
                except OSError as e:
                    failures.append((f"server unreachable: {e}", what, data[:300]))
                if server.poll() is not None:
                    failures.append((f"server exited {server.returncode}", what, data[:300]))
                if failures:
                    break
        alive = server.poll() is None
        server.terminate()
        server.wait(30)
        panics = classify_panics(log_path.read_text())
    total = sum(counts.values())
    print(f"fuzz: {total} inputs in {time.time() - start:.0f} s (seed {args.seed})")
    for what, n in sorted(counts.items()):
        print(f"fuzz:   {n:7}  {what}")
    print(f"fuzz: XX000 answers: {len(internal)}")
    for what, data in internal[:10]:
        print(f"fuzz:   {what}: {data!r}")
    upstream = [p for p in panics if p[0] == "pgwire"]
    ours = [p for p in panics if p[0] != "pgwire"]
    print(f"fuzz: panics while pgwire decoded a malformed message (that connection closed; upstream, "
          f"see ../shared/notes/upstream.md): {len(upstream)}")
    for where in sorted({p[1] for p in upstream}):
        print(f"fuzz:   {sum(1 for p in upstream if p[1] == where)} x {where}")
    print(f"fuzz: panics anywhere else: {len(ours)}")
    for p in ours[:10]:
        print(f"fuzz:   {p[1]}")
    for f in failures:
        print(f"fuzz: FAILURE {f[0]} ({f[1]}): {f[2]!r}")
    ok = alive and not failures and not ours
    print(f"fuzz: server {'alive' if alive else 'DEAD'}; {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
