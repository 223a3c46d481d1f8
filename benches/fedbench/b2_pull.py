"""B2: pull every row of TPC-H lineitem out of PostgreSQL and out of MariaDB."""
import subprocess

import connectorx as cx

from .common import Contender, WrongAnswer, alternate, log, mysql_connect, mysql_query, pg_connect, pg_query, same_rows

# Reads all 16 columns. `concat` is not pushed down, so fedsql asks the source for the plain
# rows and aggregates them itself; each source computes the same text itself for the reference.
PULL = """
SELECT count(*) AS n,
       sum(l_orderkey + l_partkey + l_suppkey + l_linenumber) AS key_sum,
       sum(l_quantity + l_extendedprice + l_discount + l_tax) AS money,
       sum(char_length(concat(l_returnflag, l_linestatus, l_shipinstruct, l_shipmode, l_comment))) AS text_len,
       max(l_shipdate) AS max_ship, min(l_commitdate) AS min_commit, max(l_receiptdate) AS max_receipt
FROM {table}
"""


def run(ctx):
    fed = ctx.fedsql({"pg": ctx.postgres_catalog(), "my": ctx.mysql_catalog()})
    fconn = fed.connect()
    pg = pg_connect(ctx.pg_db)
    my = mysql_connect(ctx.mysql_db)
    want_pg = pg_query(pg, PULL.format(table="lineitem"))
    want_my = mysql_query(my, PULL.format(table="lineitem"))
    same_rows(want_my, want_pg)  # the two sources hold the same rows
    rows = want_pg[0][0]
    log(f"B2: lineitem has {rows} rows")

    def fedsql(name, table, want):
        sql = PULL.format(table=table)
        return Contender(name, lambda: fconn.execute(sql).fetchall(), lambda a: same_rows(a, want), fedsql=True)

    def connectorx(uri, name):
        def check(table):
            if table.num_rows != rows:
                raise WrongAnswer(f"{table.num_rows} rows, expected {rows}")
        # One partition, as fedsql reads a remote table in one stream.
        return Contender(name, lambda: cx.read_sql(uri, "SELECT * FROM lineitem", return_type="arrow"), check)

    def dump(name, args):
        return Contender(name, lambda: subprocess.run(args, check=True, stdout=subprocess.DEVNULL))

    pg_uri = f"postgresql://postgres@127.0.0.1:5432/{ctx.pg_db}"
    my_uri = f"mysql://root:@127.0.0.1:3306/{ctx.mysql_db}"
    out = alternate("B2 PostgreSQL", [
        connectorx(pg_uri, "ConnectorX ← PostgreSQL"),
        dump("COPY TO STDOUT (binary) ← PostgreSQL",
             ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", ctx.pg_db, "-c",
              "COPY lineitem TO STDOUT (FORMAT binary)"]),
        fedsql("fedsql ← PostgreSQL", "pg.public.lineitem", want_pg),
    ], ctx.scale.runs, rows=rows)
    out += alternate("B2 MariaDB", [
        connectorx(my_uri, "ConnectorX ← MariaDB"),
        dump("mariadb --quick ← MariaDB",
             ["mariadb", "--quick", "-h", "127.0.0.1", "-u", "root", ctx.mysql_db, "-e", "SELECT * FROM lineitem"]),
        fedsql("fedsql ← MariaDB", f"my.{ctx.mysql_db}.lineitem", want_my),
    ], ctx.scale.runs, rows=rows)
    for m in out:
        if m.fedsql:
            m.extra["peak_rss_mb"] = fed.peak_rss_mb()
    fconn.close()
    pg.close()
    my.close()
    fed.stop()
    return out
