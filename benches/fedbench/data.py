"""Deterministic data: generated once per scale into the cache, loaded into MariaDB, PostgreSQL and S3."""
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from .common import CACHE, log, mysql_connect, mysql_query, pg_connect, pg_query

DATA_VERSION = "v1"

# Every value is a function of the row number, so each run and each machine gets the same rows.
API_CALL_LOG = """
SELECT i + 1 AS id,
       TIMESTAMP '2026-09-01 00:00:00' + to_milliseconds((i * 5270400000) // {n}) AS request_at,
       'ORG' || lpad(CAST((i * 2654435761) % 4294967296 % 20 AS VARCHAR), 3, '0') AS org_code,
       'API' || lpad(CAST((i * 40503 + 7) % 65521 % 30 AS VARCHAR), 3, '0') AS api_code,
       CAST(20 + (i * 1103515245 + 12345) % 2147483648 % 1500
            + CASE WHEN i % 97 = 0 THEN 20000 ELSE 0 END AS INTEGER) AS duration_ms,
       CAST(CASE WHEN i * 37 % 100 < 95 THEN 200 WHEN i * 37 % 100 < 98 THEN 404 ELSE 500 END AS SMALLINT) AS status
FROM range({n}) t(i)
"""

MEMBER_TOTALS = """
SELECT i + 1 AS member_id,
       CAST(printf('%d.%02d', (i * 7919 + 104729) % 10000000000 // 100, (i * 7919 + 104729) % 100)
            AS DECIMAL(18, 2)) AS total_amount,
       CAST((i * 31 + 7) % 5000 AS INTEGER) AS trade_count,
       DATE '2023-01-01' + CAST((i * 13) % 1000 AS INTEGER) AS last_trade_date
FROM range({n}) t(i)
"""

TPCH_TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]

# Column types for the SQL sources (text as VARCHAR, so no CHAR padding rules differ between systems).
TPCH_DDL = {
    "region": "r_regionkey BIGINT, r_name VARCHAR(25), r_comment VARCHAR(152)",
    "nation": "n_nationkey BIGINT, n_name VARCHAR(25), n_regionkey BIGINT, n_comment VARCHAR(152)",
    "supplier": "s_suppkey BIGINT, s_name VARCHAR(25), s_address VARCHAR(40), s_nationkey BIGINT, "
                "s_phone VARCHAR(15), s_acctbal DECIMAL(15,2), s_comment VARCHAR(101)",
    "customer": "c_custkey BIGINT, c_name VARCHAR(25), c_address VARCHAR(40), c_nationkey BIGINT, "
                "c_phone VARCHAR(15), c_acctbal DECIMAL(15,2), c_mktsegment VARCHAR(10), c_comment VARCHAR(117)",
    "part": "p_partkey BIGINT, p_name VARCHAR(55), p_mfgr VARCHAR(25), p_brand VARCHAR(10), p_type VARCHAR(25), "
            "p_size INTEGER, p_container VARCHAR(10), p_retailprice DECIMAL(15,2), p_comment VARCHAR(23)",
    "partsupp": "ps_partkey BIGINT, ps_suppkey BIGINT, ps_availqty INTEGER, ps_supplycost DECIMAL(15,2), "
                "ps_comment VARCHAR(199)",
    "orders": "o_orderkey BIGINT, o_custkey BIGINT, o_orderstatus VARCHAR(1), o_totalprice DECIMAL(15,2), "
              "o_orderdate DATE, o_orderpriority VARCHAR(15), o_clerk VARCHAR(15), o_shippriority INTEGER, "
              "o_comment VARCHAR(79)",
    "lineitem": "l_orderkey BIGINT, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INTEGER, "
                "l_quantity DECIMAL(15,2), l_extendedprice DECIMAL(15,2), l_discount DECIMAL(15,2), "
                "l_tax DECIMAL(15,2), l_returnflag VARCHAR(1), l_linestatus VARCHAR(1), l_shipdate DATE, "
                "l_commitdate DATE, l_receiptdate DATE, l_shipinstruct VARCHAR(25), l_shipmode VARCHAR(10), "
                "l_comment VARCHAR(44)",
}
TPCH_KEYS = {
    "region": "r_regionkey", "nation": "n_nationkey", "supplier": "s_suppkey", "customer": "c_custkey",
    "part": "p_partkey", "partsupp": "ps_partkey, ps_suppkey", "orders": "o_orderkey",
    "lineitem": "l_orderkey, l_linenumber",
}
BENCH_DDL = {
    "api_call_log": "id BIGINT NOT NULL, request_at {ts} NOT NULL, org_code VARCHAR(8) NOT NULL, "
                    "api_code VARCHAR(8) NOT NULL, duration_ms INTEGER NOT NULL, status SMALLINT NOT NULL",
    "member_totals": "member_id BIGINT NOT NULL, total_amount DECIMAL(18,2) NOT NULL, "
                     "trade_count INTEGER NOT NULL, last_trade_date DATE NOT NULL",
}
BENCH_KEYS = {"api_call_log": "id", "member_totals": "member_id"}


class Dataset:
    """Files of one scale: Parquet under `pq/<schema>/<table>/` (the parquet connector's layout) and CSV."""

    def __init__(self, scale):
        self.scale = scale
        self.dir = CACHE / "data" / f"{scale.name}-{DATA_VERSION}"
        self.pq = self.dir / "pq"
        self.csv = self.dir / "csv"

    def parquet(self, schema, table):
        return self.pq / schema / table / f"{table}.parquet"

    def generate(self):
        done = self.dir / "complete"
        if done.exists():
            return
        log(f"generating {self.scale.name} data in {self.dir}")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.csv.mkdir(parents=True)
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        for table, sql, rows in [("api_call_log", API_CALL_LOG, self.scale.api_rows),
                                 ("member_totals", MEMBER_TOTALS, self.scale.members)]:
            arrow = con.sql(sql.format(n=rows)).to_arrow_table()
            out = self.parquet("bench", table)
            out.parent.mkdir(parents=True)
            # Sorted by key, with statistics and a page index: what a team serving lookups would write.
            pq.write_table(arrow, out, row_group_size=131072 if table == "member_totals" else 1 << 20,
                           write_page_index=True, compression="zstd")
            con.sql(f"COPY (SELECT * FROM read_parquet('{out}')) TO '{self.csv / table}.csv' (HEADER)")
        tpchgen = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
        tmp = self.dir / "tpch-tmp"
        for fmt in ("parquet", "csv"):
            subprocess.run([tpchgen, fmt, "-s", str(self.scale.tpch_sf), "-o", str(tmp / fmt)], check=True)
        for t in TPCH_TABLES:
            out = self.parquet("tpch", t)
            out.parent.mkdir(parents=True)
            (tmp / "parquet" / f"{t}.parquet").rename(out)
            (tmp / "csv" / f"{t}.csv").rename(self.csv / f"{t}.csv")
        shutil.rmtree(tmp)
        done.write_text("ok\n")


def _tables(ds):
    """(table, ddl with {ts} placeholder, key, csv path)"""
    out = [(t, BENCH_DDL[t], BENCH_KEYS[t], ds.csv / f"{t}.csv") for t in BENCH_DDL]
    out += [(t, TPCH_DDL[t], TPCH_KEYS[t], ds.csv / f"{t}.csv") for t in TPCH_TABLES]
    return out


def _marker(ds):
    return f"{DATA_VERSION}:{ds.scale.name}:{ds.scale.api_rows}:{ds.scale.tpch_sf}:{ds.scale.members}"


def load_mysql(ds, db):
    """Loads every table into MariaDB database `db` (skipped when it already holds this data)."""
    conn = mysql_connect()
    try:
        if mysql_query(conn, f"SELECT 1 FROM information_schema.tables WHERE table_schema = '{db}' "
                             "AND table_name = 'bench_meta'"):
            if mysql_query(conn, f"SELECT marker FROM `{db}`.bench_meta") == [(_marker(ds),)]:
                log(f"MariaDB {db}: already loaded")
                return
        log(f"MariaDB {db}: loading")
        mysql_query(conn, f"DROP DATABASE IF EXISTS `{db}`")
        mysql_query(conn, f"CREATE DATABASE `{db}`")
        mysql_query(conn, f"USE `{db}`")
        for table, ddl, key, csv in _tables(ds):
            mysql_query(conn, f"CREATE TABLE {table} ({ddl.format(ts='DATETIME(3)')}, PRIMARY KEY ({key})) "
                              "ENGINE=InnoDB")
            mysql_query(conn, f"LOAD DATA LOCAL INFILE '{csv}' INTO TABLE {table} FIELDS TERMINATED BY ',' "
                              "OPTIONALLY ENCLOSED BY '\"' IGNORE 1 LINES")
        # The index the stats query filters on (seed 001's MySQL had it too).
        mysql_query(conn, "CREATE INDEX api_call_log_request_at ON api_call_log (request_at)")
        mysql_query(conn, "ANALYZE TABLE api_call_log, lineitem, member_totals")
        mysql_query(conn, "CREATE TABLE bench_meta (marker VARCHAR(100))")
        mysql_query(conn, f"INSERT INTO bench_meta VALUES ('{_marker(ds)}')")
    finally:
        conn.close()


def load_postgres(ds, db):
    """Loads every table into PostgreSQL database `db` (skipped when it already holds this data)."""
    admin = pg_connect("postgres")
    try:
        if pg_query(admin, f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
            with pg_connect(db) as c:
                if pg_query(c, "SELECT 1 FROM pg_tables WHERE tablename = 'bench_meta'") and \
                        pg_query(c, "SELECT marker FROM bench_meta") == [(_marker(ds),)]:
                    log(f"PostgreSQL {db}: already loaded")
                    return
            admin.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
        log(f"PostgreSQL {db}: loading")
        admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        admin.close()
    with pg_connect(db) as c:
        for table, ddl, key, csv in _tables(ds):
            c.execute(f"CREATE TABLE {table} ({ddl.format(ts='TIMESTAMP(3)')})")
            with c.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER)") as copy, open(csv, "rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            c.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
        c.execute("CREATE INDEX api_call_log_request_at ON api_call_log (request_at)")
        c.execute("CREATE TABLE bench_meta (marker TEXT)")
        c.execute("INSERT INTO bench_meta VALUES (%s)", (_marker(ds),))
        c.execute("VACUUM ANALYZE")


def drop_databases(mysql_db, pg_db):
    """Drops both; a failure on one side is reported and does not skip the other."""
    try:
        conn = mysql_connect()
        mysql_query(conn, f"DROP DATABASE IF EXISTS `{mysql_db}`")
        conn.close()
    except Exception as e:
        log(f"could not drop MariaDB database {mysql_db}: {e}")
    try:
        with pg_connect("postgres") as c:
            c.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
    except Exception as e:
        log(f"could not drop PostgreSQL database {pg_db}: {e}")


S3_ENDPOINT = "http://127.0.0.1:9000"


def _s3():
    import boto3
    return boto3.client("s3", endpoint_url=S3_ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def upload_s3(ds, bucket, tables):
    """Copies the given (schema, table) Parquet folders to s3://bucket/pq/."""
    s3 = _s3()
    s3.create_bucket(Bucket=bucket)
    for schema, table in tables:
        path = ds.parquet(schema, table)
        s3.upload_file(str(path), bucket, f"pq/{schema}/{table}/{path.name}")


def drop_bucket(bucket):
    s3 = _s3()
    try:
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)
    except Exception as e:
        log(f"could not drop bucket {bucket}: {e}")


def pg_version():
    with pg_connect("postgres") as c:
        return pg_query(c, "SHOW server_version")[0][0]


def mysql_version():
    conn = mysql_connect()
    try:
        return mysql_query(conn, "SELECT VERSION()")[0][0]
    finally:
        conn.close()


def sizes(ds):
    return {p.relative_to(ds.pq).as_posix(): p.stat().st_size for p in ds.pq.rglob("*.parquet")}

