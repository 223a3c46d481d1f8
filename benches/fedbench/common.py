"""Shared pieces of the benchmark harness: scales, timing, answer checks, the fedsql server."""
import atexit
import dataclasses
import datetime
import decimal
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pymysql

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("FEDSQL_BENCH_DIR", Path.home() / ".cache" / "fedsql-bench"))
MYSQL = dict(host="127.0.0.1", port=3306, user="root", password="")
PG = dict(host="127.0.0.1", port=5432, user="postgres")


@dataclasses.dataclass(frozen=True)
class Scale:
    name: str
    api_rows: int          # B1/B4: api_call_log rows (two months)
    tpch_sf: float         # B2/B5: TPC-H scale factor
    members: int           # B3: member_totals rows
    pgbench_secs: int      # B3: seconds per pgbench run
    runs: int              # timed runs per contender (after one warm-up)


SCALES = {
    "small": Scale("small", api_rows=200_000, tpch_sf=0.01, members=20_000, pgbench_secs=2, runs=5),
    "full": Scale("full", api_rows=10_000_000, tpch_sf=1, members=1_000_000, pgbench_secs=5, runs=5),
}


def log(msg):
    print(f"bench: {msg}", flush=True)


class WrongAnswer(Exception):
    pass


# ---------------------------------------------------------------- timing

@dataclasses.dataclass
class Contender:
    """One system running one workload: `run` returns its answer, `check` raises WrongAnswer.

    `before`/`after`, if given, run around every run of it, outside the timing."""
    name: str
    run: object
    check: object = None
    fedsql: bool = False
    before: object = None
    after: object = None


@dataclasses.dataclass
class Measurement:
    workload: str
    system: str
    seconds: list
    rows: int = 0
    fedsql: bool = False
    error: str = ""
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def median(self):
        return statistics.median(self.seconds) if self.seconds and not self.error else None

    @property
    def rows_per_s(self):
        m = self.median
        return self.rows / m if m and self.rows else None


def alternate(workload, contenders, runs, rows=0):
    """One warm-up each (answers checked), then `runs` rounds that alternate the contenders.

    A contender whose answer is wrong or that fails keeps its error and no time."""
    out = {c.name: Measurement(workload, c.name, [], rows, c.fedsql) for c in contenders}
    live = list(contenders)

    def attempt(c, timed):
        if c.before:
            c.before()
        t0 = time.perf_counter()
        try:
            answer = c.run()
            elapsed = time.perf_counter() - t0
            if c.after:
                c.after()
            if c.check:
                c.check(answer)
        except Exception as e:  # a failing contender is reported, the others go on
            out[c.name].error = f"{type(e).__name__}: {str(e).strip()[:400]}"
            out[c.name].seconds = []
            log(f"{workload} {c.name}: {out[c.name].error}")
            live.remove(c)
            return
        if timed:
            out[c.name].seconds.append(elapsed)

    for c in list(live):
        attempt(c, timed=False)
    for _ in range(runs):
        for c in list(live):
            attempt(c, timed=True)
    for m in out.values():
        if m.median is not None:
            log(f"{workload} {m.system}: median {m.median:.3f}s over {len(m.seconds)} runs")
    return list(out.values())


# ---------------------------------------------------------------- answers

def _exp(d):
    return d.as_tuple().exponent


def _close(a, b):
    """Equal values. Whole numbers must be equal; two exact decimals of different scales
    agree when the finer one rounds to the coarser (MariaDB's AVG has 4 decimals); a
    float agrees with an exact decimal to half a unit in the decimal's last place, and
    with another float to 1e-9 relative."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (datetime.date, str, bytes, bool)) or isinstance(b, (datetime.date, str, bytes, bool)):
        return a == b
    dec = decimal.Decimal
    if all(isinstance(x, int) or isinstance(x, dec) and (_exp(x) >= 0 or x == x.to_integral_value()) for x in (a, b)):
        if isinstance(a, int) or isinstance(b, int) or _exp(a) == _exp(b):
            return dec(a) == dec(b)
    if isinstance(a, dec) and isinstance(b, dec):
        if a == b:
            return True
        fine, coarse = (a, b) if _exp(a) < _exp(b) else (b, a)
        if _exp(fine) == _exp(coarse):
            return False
        return fine.quantize(dec(1).scaleb(_exp(coarse)), rounding=decimal.ROUND_HALF_UP) == coarse
    fa, fb = float(a), float(b)
    if math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-12):
        return True
    exact = [x for x in (a, b) if isinstance(x, dec) and _exp(x) < 0]
    return bool(exact) and abs(fa - fb) <= float(dec(1).scaleb(_exp(exact[0]))) / 2 * (1 + 1e-9)


def same_rows(got, want):
    """Raises WrongAnswer naming the first difference; order matters."""
    got, want = [tuple(r) for r in got], [tuple(r) for r in want]
    if len(got) != len(want):
        raise WrongAnswer(f"{len(got)} rows, expected {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w) or not all(_close(x, y) for x, y in zip(g, w)):
            raise WrongAnswer(f"row {i}: {g!r} != expected {w!r}")


# ---------------------------------------------------------------- connections

def pg_connect(dbname, port=5432, **kw):
    return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname, autocommit=True, **kw)


def pg_query(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def mysql_connect(db=None):
    return pymysql.connect(**MYSQL, database=db, autocommit=True, local_infile=True)


def mysql_query(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


class MariadbUser:
    """A MariaDB user of fedsql's own, so that MariaDB's per-user statistics count exactly
    the statements fedsql sent (the catalog is configured with it, as in production)."""

    def __init__(self, conn, db, label):
        self.conn = conn
        self.name = f"fedsql_{label}_{uuid.uuid4().hex[:8]}"
        self.userstat = mysql_query(conn, "SELECT @@GLOBAL.userstat")[0][0]
        mysql_query(conn, f"CREATE USER '{self.name}'@'%'")
        mysql_query(conn, f"GRANT SELECT ON `{db}`.* TO '{self.name}'@'%'")
        mysql_query(conn, "SET GLOBAL userstat = 1")

    def statements(self):
        rows = mysql_query(self.conn, "SELECT SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS "
                                      f"FROM information_schema.USER_STATISTICS WHERE USER = '{self.name}'")
        return int(rows[0][0]) if rows else 0

    def counter(self):
        return StatementCount(self)

    def drop(self):
        mysql_query(self.conn, f"DROP USER '{self.name}'@'%'")
        mysql_query(self.conn, f"SET GLOBAL userstat = {int(self.userstat)}")


class StatementCount:
    """Statements a MariadbUser sent between `before` and `after`, summed over runs (the
    hooks of a Contender): a catalog's own background reads between runs are not counted."""

    def __init__(self, user):
        self.user, self.total, self.mark = user, 0, 0

    def before(self):
        self.mark = self.user.statements()

    def after(self):
        self.total += self.user.statements() - self.mark


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- fedsql

_servers = []


@atexit.register
def _stop_servers():
    """No server outlives the harness, whatever ends it."""
    for s in _servers:
        s.stop()


# A cancelled CI job sends SIGTERM: exit normally so servers stop and databases are dropped.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class Fedsql:
    """A fedsql server of its own for one workload, over catalogs given as TOML texts."""

    def __init__(self, workdir: Path, catalogs: dict, args=()):
        self.bin = os.environ.get("FEDSQL_BIN") or str(
            Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/fedsql-target")) / "release/fedsql")
        cat_dir = workdir / "catalogs"
        cat_dir.mkdir(parents=True, exist_ok=True)
        for old in cat_dir.glob("*.toml"):
            old.unlink()
        for name, text in catalogs.items():
            (cat_dir / f"{name}.toml").write_text(text)
        self.port = free_port()
        self.log_path = workdir / f"fedsql-{self.port}.log"
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(
                [self.bin, "serve", "--catalogs", str(cat_dir), "--listen", f"127.0.0.1:{self.port}", *args],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        _servers.append(self)
        deadline = time.time() + 60
        while True:
            try:
                psycopg.connect(**self.dsn()).close()
                break
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"fedsql did not start: {self.log_path.read_text()[-2000:]}")
                time.sleep(0.2)

    def dsn(self):
        return dict(host="127.0.0.1", port=self.port, user="bench", dbname="fedsql", autocommit=True)

    def connect(self):
        return psycopg.connect(**self.dsn())

    def peak_rss_mb(self):
        """Peak resident set in MB (VmHWM, what `/usr/bin/time -v` reports as maximum
        resident set size); None once the server has exited."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
        except OSError:
            pass
        return None

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def catalog_toml(kind, **kw):
    lines = [f'connector = "{kind}"']
    s3 = kw.pop("s3", None)
    for k, v in kw.items():
        lines.append(f"{k} = {v!r}" if isinstance(v, int) else f'{k} = "{v}"')
    if s3:
        lines.append("[s3]")
        lines += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {str(v).lower()}" for k, v in s3.items()]
    return "\n".join(lines) + "\n"


def run_cmd(args, stdout=subprocess.DEVNULL, **kw):
    subprocess.run(args, check=True, stdout=stdout, **kw)
