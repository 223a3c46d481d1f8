"""B1, seed 001: daily AVG/STDDEV/SUM of API-call durations by (day, org, api) over one month."""
import duckdb

from .common import Contender, MariadbUser, alternate, log, mysql_connect, mysql_query, same_rows

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
    my = mysql_connect(ctx.mysql_db)
    user = MariadbUser(my, ctx.mysql_db, "b1")
    fed = ctx.fedsql({"pq": ctx.parquet_catalog(), "s3": ctx.s3_catalog(), "my": ctx.mysql_catalog(user.name)})
    fconn = fed.connect()
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

    # Counted around each fedsql run only: the catalog's own refresh (table and key
    # listing, once a minute) also reaches MariaDB while the baselines run.
    sent = user.counter()

    out = alternate("B1", [
        Contender("MariaDB (indexed table)", lambda: _sorted(mysql_query(my, mariadb_sql)), check),
        Contender("DuckDB (local Parquet)", lambda: _sorted(duck.sql(duck_sql).fetchall()), check),
        Contender("fedsql (local Parquet)", fedsql("pq.bench.api_call_log"), check, fedsql=True, before=sent.before, after=sent.after),
        Contender("fedsql (Parquet on S3)", fedsql("s3.bench.api_call_log"), check, fedsql=True, before=sent.before, after=sent.after),
    ], ctx.scale.runs, rows=rows)
    to_mariadb = sent.total  # over every fedsql run, warm-ups included
    user.drop()
    for m in out:
        if m.fedsql:
            m.extra["statements_to_mariadb"] = to_mariadb
            m.extra["peak_rss_mb"] = fed.peak_rss_mb()
    fconn.close()
    my.close()
    fed.stop()
    return out
