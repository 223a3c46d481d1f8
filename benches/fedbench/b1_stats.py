"""B1, seed 001: daily AVG/STDDEV/SUM of API-call durations by (day, org, api) over one month."""
import duckdb

from .common import Contender, alternate, log, mysql_connect, mysql_query, mysql_questions, same_rows

# STDDEV means the sample statistic in fedsql and DuckDB; MariaDB spells that STDDEV_SAMP
# (its own STDDEV is the population one), and the cast to DOUBLE only stops its text
# protocol from rounding the result to 4 decimals.
STATS = """
SELECT {day} AS stat_date, org_code, api_code, count(*) AS calls,
       avg(duration_ms) AS rsp_avg, {stddev}(duration_ms){stddev_end} AS rsp_std_dev, sum(duration_ms) AS rsp_total,
       sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS failures
FROM {table}
WHERE request_at >= {ts}'2026-10-01 00:00:00' AND request_at < {ts}'2026-11-01 00:00:00'
GROUP BY 1, 2, 3
"""


def _sorted(rows):
    return sorted((tuple(r) for r in rows), key=lambda r: (str(r[0]), r[1], r[2]))


def run(ctx):
    ds = ctx.dataset
    local = ds.parquet("bench", "api_call_log")
    fed = ctx.fedsql({"pq": ctx.parquet_catalog(), "s3": ctx.s3_catalog(), "my": ctx.mysql_catalog()})
    fconn = fed.connect()
    my = mysql_connect(ctx.mysql_db)
    duck = duckdb.connect()
    duck.execute("SET enable_progress_bar = false")

    def fedsql(table):
        sql = STATS.format(day="CAST(request_at AS DATE)", stddev="stddev", stddev_end="", table=table, ts="TIMESTAMP ")
        return lambda: _sorted(fconn.execute(sql).fetchall())

    mariadb_sql = STATS.format(day="DATE(request_at)", stddev="CAST(STDDEV_SAMP", stddev_end=" AS DOUBLE)", table="api_call_log", ts="")
    duck_sql = STATS.format(day="CAST(request_at AS DATE)", stddev="stddev_samp", stddev_end="",
                            table=f"read_parquet('{local}')", ts="TIMESTAMP ")
    reference = _sorted(mysql_query(my, mariadb_sql))
    rows = sum(r[3] for r in reference)
    log(f"B1: {len(reference)} groups over {rows} rows")

    def check(answer):
        same_rows(answer, reference)

    # Statements MariaDB receives while fedsql computes the stats from Parquet (it holds a
    # MySQL catalog too, as in production). Our own two status reads are subtracted.
    q0 = mysql_questions(my)
    idle = mysql_questions(my) - q0
    before = mysql_questions(my)
    fedsql("pq.bench.api_call_log")()
    fedsql("s3.bench.api_call_log")()
    to_mariadb = mysql_questions(my) - before - idle

    out = alternate("B1", [
        Contender("MariaDB (indexed table)", lambda: _sorted(mysql_query(my, mariadb_sql)), check),
        Contender("DuckDB (local Parquet)", lambda: _sorted(duck.sql(duck_sql).fetchall()), check),
        Contender("fedsql (local Parquet)", fedsql("pq.bench.api_call_log"), check, fedsql=True),
        Contender("fedsql (Parquet on S3)", fedsql("s3.bench.api_call_log"), check, fedsql=True),
    ], ctx.scale.runs, rows=rows)
    for m in out:
        if m.fedsql:
            m.extra["statements_to_mariadb"] = to_mariadb
            m.extra["peak_rss_mb"] = round(fed.peak_rss_mb())
    fconn.close()
    my.close()
    fed.stop()
    return out
