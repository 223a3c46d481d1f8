"""B4: stream every row of api_call_log (4 columns) to psql, fedsql against PostgreSQL."""
import shlex
import subprocess

from .common import Contender, WrongAnswer, alternate, pg_connect, pg_query

COLUMNS = "id, request_at, org_code, duration_ms"


def _psql(port, user, db, sql, digest):
    """(rows, digest of the lines in any order); the digest only when asked, the count by `wc -l`."""
    cmd = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", db, "-At", "-c", sql]
    if digest:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        n = total = 0
        for line in proc.stdout:
            n += 1
            total = (total + hash(line)) & 0xFFFFFFFFFFFFFFFF
        err = proc.stderr.read().decode()
        if proc.wait() != 0:
            raise WrongAnswer(err.strip()[-400:])
        return n, total
    res = subprocess.run(["bash", "-o", "pipefail", "-c", " ".join(shlex.quote(c) for c in cmd) + " | wc -l"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise WrongAnswer(res.stderr.strip()[-400:])
    return int(res.stdout.strip()), None


def run(ctx):
    with pg_connect(ctx.pg_db) as pg:
        rows = pg_query(pg, "SELECT count(*) FROM api_call_log")[0][0]

    def case(name, port, user, db, sql, want, is_fed):
        def check(answer):
            n, digest = answer
            if n != rows:
                raise WrongAnswer(f"{n} rows, expected {rows}")
            if digest is not None and digest != want:
                raise WrongAnswer("the rows' text differs from PostgreSQL's")
        first = [True]

        def run():
            # The warm-up digests every line; timed runs count lines (`wc -l`).
            digest, first[0] = first[0], False
            return _psql(port, user, db, sql, digest)
        return Contender(name, run, check, fedsql=is_fed)

    out = []
    for form, pattern in [("COPY", "COPY (SELECT {cols} FROM {t}) TO STDOUT"),
                          ("SELECT", "SELECT {cols} FROM {t}")]:
        fed = ctx.fedsql({"pq": ctx.parquet_catalog()})  # one server per form: its own peak RSS
        pg_sql = pattern.format(cols=COLUMNS, t="api_call_log")
        # PostgreSQL's text is the reference, line for line (untimed).
        n, want = _psql(5432, "postgres", ctx.pg_db, pg_sql, True)
        if n != rows:
            raise WrongAnswer(f"PostgreSQL sent {n} rows, expected {rows}")
        measured = alternate(f"B4 {form}", [
            case("PostgreSQL", 5432, "postgres", ctx.pg_db, pg_sql, want, False),
            case("fedsql (Parquet)", fed.port, "bench", "fedsql",
                 pattern.format(cols=COLUMNS, t="pq.bench.api_call_log"), want, True),
        ], ctx.scale.runs, rows=rows)
        for m in measured:
            if m.fedsql:
                m.extra["peak_rss_mb"] = fed.peak_rss_mb()
        fed.stop()
        out += measured
    return out
