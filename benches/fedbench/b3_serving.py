"""B3, seed 000: point lookups of member totals by id under pgbench (-M prepared -c 16 -j 2)."""
import random
import re
import statistics
import subprocess

from .common import Measurement, WrongAnswer, log, pg_connect, pg_query, same_rows

LOOKUP = ("\\set id random(1, {n})\n"
          "SELECT member_id, total_amount, trade_count, last_trade_date FROM {table} WHERE member_id = :id;\n")
PROTOCOL = "SELECT 1;\n"


def _pgbench(ctx, name, port, user, db, script, secs):
    """One pgbench run: (tps, p99 ms, p50 ms)."""
    work = ctx.workdir / "pgbench"
    work.mkdir(exist_ok=True)
    for old in work.glob("log*"):
        old.unlink()
    (work / "script.sql").write_text(script)
    res = subprocess.run(
        ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-n", "-M", "prepared", "-c", "16", "-j", "2",
         "-T", str(secs), "-f", "script.sql", "-l", "--log-prefix=log", db],
        cwd=work, capture_output=True, text=True)
    text = res.stdout + res.stderr
    failed = re.search(r"number of failed transactions: (\d+)", text)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    if res.returncode != 0 or not tps or (failed and int(failed.group(1)) > 0):
        raise WrongAnswer(f"pgbench against {name} failed: {text.strip()[-600:]}")
    lat = sorted(int(line.split()[2]) for f in work.glob("log*") for line in open(f))
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000
    return float(tps.group(1)), p99, statistics.median(lat) / 1000


def run(ctx):
    n = ctx.scale.members
    fed = ctx.fedsql({"pq": ctx.parquet_catalog(), "pg": ctx.postgres_catalog()})
    targets = [
        # name, port, user, db, table
        ("PostgreSQL (primary key)", 5432, "postgres", ctx.pg_db, "member_totals"),
        ("fedsql (Parquet)", fed.port, "bench", "fedsql", "pq.bench.member_totals"),
        ("fedsql ← PostgreSQL", fed.port, "bench", "fedsql", "pg.public.member_totals"),
    ]
    # Answers first: the same random members through every target.
    ids = random.Random(7).sample(range(1, n + 1), 20)
    with pg_connect(ctx.pg_db) as pg, fed.connect() as fc:
        sql = "SELECT member_id, total_amount, trade_count, last_trade_date FROM {} WHERE member_id = %s"
        for i in ids:
            want = pg.execute(sql.format("member_totals"), (i,)).fetchall()
            for _, _, _, _, table in targets[1:]:
                same_rows(fc.execute(sql.format(table), (i,)).fetchall(), want)
        if pg_query(pg, "SELECT count(*) FROM member_totals")[0][0] != n:
            raise WrongAnswer(f"member_totals does not hold {n} rows")

    out = []
    for label, script_of, cases in [
        ("B3 lookups", lambda t: LOOKUP.format(n=n, table=t), targets),
        ("B3 SELECT 1", lambda t: PROTOCOL, [targets[0], targets[1][:4] + (None,)]),
    ]:
        results = {c[0]: Measurement(label, c[0], [], fedsql=c[1] == fed.port) for c in cases}
        samples = {c[0]: [] for c in cases}
        for round_ in range(ctx.scale.runs + 1):  # round 0 warms up
            for name, port, user, db, table in cases:
                m = results[name]
                if m.error:
                    continue
                try:
                    tps, p99, p50 = _pgbench(ctx, name, port, user, db, script_of(table), ctx.scale.pgbench_secs)
                except WrongAnswer as e:
                    m.error = str(e)
                    log(f"{label} {name}: {e}")
                    continue
                if round_:
                    samples[name].append((tps, p99, p50))
        for name, m in results.items():
            s = samples[name]
            if s and not m.error:
                m.extra.update(tps=round(statistics.median(x[0] for x in s), 1),
                               p99_ms=round(statistics.median(x[1] for x in s), 2),
                               p50_ms=round(statistics.median(x[2] for x in s), 2))
                m.seconds = [1 / x[0] for x in s]  # seconds per transaction, so medians and ratios read alike
                log(f"{label} {name}: {m.extra}")
            if m.fedsql:
                m.extra["peak_rss_mb"] = fed.peak_rss_mb()
        out += results.values()
    fed.stop()
    return out
