"""B6: other sessions under two CPU-heavy queries, and how fast cancel and statement_timeout stop one."""
import statistics
import threading
import time

import psycopg

from .common import Measurement, log, pg_connect

# A nested-loop join (an inequality) that no index helps: CPU-bound for as long as it runs.
HEAVY = ("SELECT count(*) FROM {t} a JOIN {t} b ON a.trade_count < b.trade_count + a.member_id % 3 "
         "WHERE a.member_id <= 20000 AND b.member_id <= 20000")
CATALOG = ("SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
           "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v') ORDER BY 1, 2")
WINDOW_SECS = 10


def _pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


class _Load:
    """Two clients that run the heavy query back to back until stopped."""

    def __init__(self, dsn, table):
        self.dsn, self.sql, self.stop = dsn, HEAVY.format(t=table), threading.Event()
        self.conns = [psycopg.connect(**dsn) for _ in range(2)]
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(c,)) for c in self.conns]
        for t in self.threads:
            t.start()

    def _run(self, conn):
        while not self.stop.is_set():
            try:
                conn.execute(self.sql).fetchall()
            except psycopg.errors.QueryCanceled:
                pass
            except Exception as e:  # reported, never hidden
                self.errors.append(f"{type(e).__name__}: {e}")
                return

    def end(self):
        self.stop.set()
        for c in self.conns:
            c.cancel_safe()
        for t in self.threads:
            t.join()
        for c in self.conns:
            c.close()


def _stopped_after(dsn, sql, how):
    """Seconds from a cancel (or the start, for a 1 s statement_timeout) to the error."""
    with psycopg.connect(**dsn) as conn:
        if how == "timeout":
            conn.execute("SET statement_timeout = '1s'")
            start = time.perf_counter()
        else:
            timer = threading.Timer(1.0, conn.cancel_safe)
            timer.start()
            start = time.perf_counter() + 1.0
        try:
            conn.execute(sql).fetchall()
            raise RuntimeError(f"{how}: the heavy query ended on its own")
        except psycopg.errors.QueryCanceled:
            elapsed = time.perf_counter() - start
        conn.execute("SELECT 1").fetchall()  # the session goes on
        return elapsed - (1.0 if how == "timeout" else 0.0)


def _measure(name, dsn, table, fedsql):
    load = _Load(dsn, table)
    time.sleep(1)
    new_session, select1, catalog = [], [], []
    with psycopg.connect(**dsn) as kept:
        end = time.time() + WINDOW_SECS
        while time.time() < end:
            t0 = time.perf_counter()
            with psycopg.connect(**dsn) as c:
                c.execute("SELECT 1").fetchall()
                new_session.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            kept.execute("SELECT 1").fetchall()
            select1.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            kept.execute(CATALOG).fetchall()
            catalog.append(time.perf_counter() - t0)
            time.sleep(0.05)
    cancel = _stopped_after(dsn, load.sql, "cancel")
    timeout = _stopped_after(dsn, load.sql, "timeout")
    load.end()
    m = Measurement("B6 SELECT 1 under load", name, select1, fedsql=fedsql)
    if load.errors:
        m.error = load.errors[0]
    ms = lambda x: round(x * 1000, 1)
    m.extra.update(select1_p50_ms=ms(statistics.median(select1)), select1_p99_ms=ms(_pct(select1, 0.99)),
                   new_session_p99_ms=ms(_pct(new_session, 0.99)), catalog_p99_ms=ms(_pct(catalog, 0.99)),
                   cancel_ms=ms(cancel), timeout_overshoot_ms=ms(timeout), probes=len(select1))
    log(f"B6 {name}: {m.extra}")
    return m


def run(ctx):
    fed = ctx.fedsql({"pq": ctx.parquet_catalog()})
    out = [_measure("PostgreSQL", dict(host="127.0.0.1", port=5432, user="postgres", dbname=ctx.pg_db,
                                       autocommit=True), "member_totals", False),
           _measure("fedsql (Parquet)", fed.dsn(), "pq.bench.member_totals", True)]
    out[-1].extra["peak_rss_mb"] = fed.peak_rss_mb()
    fed.stop()
    return out
