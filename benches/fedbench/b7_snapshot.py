"""B7, seed 001 without touching MariaDB: a snapshot of api_call_log (its first load, then an append of 1% new rows), and B1's stats query over it against DuckDB on the same Parquet."""
import time
import tomllib

import duckdb

from .b1_stats import STATS, _sorted
from .common import Contender, MariadbUser, Measurement, WrongAnswer, alternate, log, mysql_connect, mysql_query, same_rows

STATUS = ("SELECT state, rows, version, last_rows_read, last_statements, last_duration_ms, last_error, bytes "
          "FROM fedsql.snapshots")


def _status(conn):
    return conn.execute(STATUS).fetchone()


def _wait_ready(conn, version, limit=3600):
    start = time.monotonic()
    while True:
        s = _status(conn)
        if s and s[0] == "ready" and s[2] >= version:
            return s
        if s and s[0] == "failed" or time.monotonic() - start > limit:
            raise RuntimeError(f"the snapshot did not load: {s}")
        time.sleep(0.2)


def run(ctx):
    ds = ctx.dataset
    n = ctx.scale.api_rows
    my = mysql_connect(ctx.mysql_db)
    user = MariadbUser(my, ctx.mysql_db, "b7")
    snapshot = (f'\n[[snapshot]]\ntable = "{ctx.mysql_db}.api_call_log"\nrefresh = "append"\ncursor = "request_at"\n'
                'overlap = "10m"\nevery = "24h"\n')
    data_dir = ctx.workdir / "b7-data"
    out = []
    added = max(n // 100, 1)
    try:
        # 1. The first load: a full read in key-ordered chunks, timed from the server's start.
        before = user.statements()
        t0 = time.perf_counter()
        fed = ctx.fedsql({"my": ctx.mysql_catalog(user.name) + snapshot}, args=["--data", str(data_dir)])
        conn = fed.connect()
        s = _wait_ready(conn, 1)
        load_s = time.perf_counter() - t0
        sent = user.statements() - before
        if s[1] != n:
            raise WrongAnswer(f"the snapshot holds {s[1]} rows, the table {n}")
        log(f"B7 first load: {n} rows in {load_s:.1f}s ({s[5]} ms by the server), {s[4]} chunk statements, "
            f"{sent} statements in MariaDB's count, {s[7]} bytes of Parquet")
        out.append(Measurement("B7 snapshot refresh", "fedsql first load (full)", [load_s], n, True,
                               extra=dict(chunk_statements=s[4], statements_to_mariadb=sent, server_ms=s[5],
                                          parquet_bytes=s[7], peak_rss_mb=fed.peak_rss_mb())))

        # 2. An append refresh after 1% new rows, one minute apart, arrive.
        mysql_query(my, f"INSERT INTO api_call_log SELECT id + {n}, request_at + INTERVAL 61 DAY, org_code, api_code, "
                        f"duration_ms, status FROM api_call_log WHERE id <= {added}")
        before = user.statements()
        t0 = time.perf_counter()
        conn.execute(f"REFRESH SNAPSHOT my.{ctx.mysql_db}.api_call_log")
        append_s = time.perf_counter() - t0
        sent = user.statements() - before
        s = _status(conn)
        got = conn.execute(f"SELECT count(*), max(id) FROM my.{ctx.mysql_db}.api_call_log").fetchone()
        if tuple(got) != (n + added, n + added):
            raise WrongAnswer(f"after the append the snapshot has count, max(id) = {got}, expected {n + added}")
        log(f"B7 append: {added} new rows, {s[3]} read in {append_s:.2f}s, {s[4]} chunk statements, "
            f"{sent} statements in MariaDB's count")
        out.append(Measurement("B7 snapshot refresh", "fedsql append of 1% new rows", [append_s], s[3], True,
                               extra=dict(new_rows=added, rows_read=s[3], chunk_statements=s[4],
                                          statements_to_mariadb=sent, server_ms=s[5])))

        # 3. B1's stats query over the snapshot, against DuckDB on the snapshot's own files.
        folder = data_dir / "snapshots" / "my" / ctx.mysql_db / "api_call_log"
        manifest = tomllib.loads((folder / "manifest.toml").read_text())
        files = [str(folder / f["path"]) for f in manifest["files"]]
        duck = duckdb.connect()
        duck.execute("SET enable_progress_bar = false")
        duck_sql = STATS.format(day="CAST(request_at AS DATE)", stddev="stddev_samp", stddev_end="",
                                table=f"read_parquet({files!r})", ts="TIMESTAMP ")
        fed_sql = STATS.format(day="CAST(request_at AS DATE)", stddev="stddev", stddev_end="",
                               table=f"my.{ctx.mysql_db}.api_call_log", ts="TIMESTAMP ")
        # The reference: DuckDB over the benchmark's own Parquet (the rows the snapshot copied).
        original = STATS.format(day="CAST(request_at AS DATE)", stddev="stddev_samp", stddev_end="",
                                table=f"read_parquet('{ds.parquet('bench', 'api_call_log')}')", ts="TIMESTAMP ")
        reference = _sorted(duck.sql(original).fetchall())
        rows = sum(r[3] for r in reference)
        sent = user.counter()
        stats = alternate("B7 stats", [
            Contender("DuckDB (the snapshot's Parquet)", lambda: _sorted(duck.sql(duck_sql).fetchall()),
                      lambda a: same_rows(a, reference)),
            Contender("fedsql (snapshot of MariaDB)", lambda: _sorted(conn.execute(fed_sql).fetchall()),
                      lambda a: same_rows(a, reference), fedsql=True, before=sent.before, after=sent.after),
        ], ctx.scale.runs, rows=rows)
        for m in stats:
            if m.fedsql:
                m.extra["statements_to_mariadb"] = sent.total
                m.extra["peak_rss_mb"] = fed.peak_rss_mb()
        out += stats
        conn.close()
        fed.stop()
    finally:
        mysql_query(my, f"DELETE FROM api_call_log WHERE id > {n}")
        user.drop()
        my.close()
    return out
