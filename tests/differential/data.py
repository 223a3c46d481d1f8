"""The differential tester's dataset: one typed set of rows, loaded identically into
MariaDB, PostgreSQL (source and oracle), local Parquet and Parquet on S3.

Every value is fixed (no randomness): a failing query reproduces from its text alone.
"""

import datetime as dt
import os
from decimal import Decimal

UTC = dt.timezone.utc

# Column kinds the query grammar knows.
INT, DEC, FLOAT, TEXT, DATE, TS, TSTZ = "int", "dec", "float", "text", "date", "ts", "tstz"

# name: [(column, kind, nullable, mysql type, postgres type, arrow type)]
# Arrow types are strings resolved in `arrow_type` (pyarrow is imported lazily).
TABLES = {
    "t_a": [
        ("id", INT, False, "INT", "integer", "int32"),
        ("i", INT, True, "INT", "integer", "int32"),
        ("bi", INT, True, "BIGINT", "bigint", "int64"),
        ("u", INT, True, "INT UNSIGNED", "bigint", "uint32"),
        ("d", DEC, True, "DECIMAL(30,10)", "numeric(30,10)", "decimal(30,10)"),
        ("m", DEC, True, "DECIMAL(12,2)", "numeric(12,2)", "decimal(12,2)"),
        ("f", FLOAT, True, "DOUBLE", "double precision", "float64"),
        ("s", TEXT, True, "VARCHAR(40)", "varchar(40)", "string"),
        ("s2", TEXT, False, "VARCHAR(40)", "text", "string"),
        ("dt", DATE, True, "DATE", "date", "date32"),
        ("ts", TS, True, "DATETIME(6)", "timestamp", "timestamp[us]"),
        ("tz", TSTZ, True, "TIMESTAMP(6) NULL", "timestamptz", "timestamp[us, tz=UTC]"),
    ],
    "t_b": [
        ("id", INT, False, "INT", "integer", "int32"),
        ("a_id", INT, True, "INT", "integer", "int32"),
        ("k", TEXT, True, "VARCHAR(16)", "varchar(16)", "string"),
        ("n", INT, True, "INT", "integer", "int32"),
        ("amt", DEC, True, "DECIMAL(12,2)", "numeric(12,2)", "decimal(12,2)"),
    ],
    "t_c": [
        ("w", INT, True, "INT", "integer", "int32"),
        ("label", TEXT, False, "VARCHAR(16)", "varchar(16)", "string"),
        ("nv", DEC, True, "DECIMAL(38,20)", "numeric", "decimal(38,20)"),
    ],
}

KEYS = {"t_a": ["id"], "t_b": ["id"]}

TEXTS = [
    "apple", "Apple", "APPLE", "apple ", " apple", "", "banana", "a'b", 'say "hi"', "back\\slash",
    "50%", "under_score", "가나다", "한글 텍스트", "😀 emoji", "zeta", "Zeta", "a", "b", "ab",
    "abc", "%", "_", "x\\_y", "\\", "apple  ", "BANANA", "cherry", "ü", "é",
]
KEYWORDS = ["red", "Red", "RED", "red ", "blue", "green", "", "가", "x'y", 'q"', "b\\c"]


def _a_row(n):
    """Row n of t_a: every column a function of n, with NULLs spread over all columns."""
    def null_if(step, offset, v):
        return None if (n + offset) % step == 0 else v
    ints = [0, 1, -1, 7, 42, -42, 2147483647, -2147483648, 100, 3, 3, -7]
    bigs = [0, 9223372036854775807, -9223372036854775808, 1, -1, 10**12, 5, 5, -300]
    uns = [0, 1, 4294967295, 2147483648, 77, 3, 3]
    decs = [
        "0", "1.5", "-1.5", "12345678901234567890.0123456789", "-12345678901234567890.0123456789",
        "0.0000000001", "-0.0000000001", "2.5", "-2.5", "99999999999999999999.9999999999", "3.3333333333",
        "1.0000000000", "1", "7.77",
    ]
    monies = ["0.00", "10.50", "-10.50", "9999999999.99", "-9999999999.99", "0.01", "3.33", "3.33", "100.00"]
    floats = [0.0, 1.5, -1.5, 1e150, -1e-150, 3.141592653589793, 2.5, -2.5, 1e15, 0.1, 0.1]
    base = dt.datetime(2024, 2, 28, 22, 30, 0)
    ts = base + dt.timedelta(hours=7 * n, minutes=13 * n, microseconds=(n * 123457) % 1000000)
    tz = (dt.datetime(2024, 12, 31, 23, 0, 0, tzinfo=UTC)
          + dt.timedelta(hours=5 * n, seconds=n * 37, microseconds=(n * 654321) % 1000000))
    return (
        n,
        null_if(5, 1, ints[n % len(ints)]),
        null_if(6, 2, bigs[n % len(bigs)]),
        null_if(7, 3, uns[n % len(uns)]),
        null_if(5, 4, Decimal(decs[n % len(decs)])),
        null_if(8, 0, Decimal(monies[n % len(monies)])),
        null_if(6, 5, floats[n % len(floats)]),
        null_if(9, 2, TEXTS[n % len(TEXTS)]),
        TEXTS[(n * 7) % len(TEXTS)],
        null_if(7, 6, (base + dt.timedelta(days=3 * n - 40)).date()),
        null_if(8, 3, ts),
        null_if(9, 4, tz),
    )


def _b_row(n):
    a_id = None if n % 11 == 0 else (n * 5) % 70  # some beyond t_a's ids, some repeated
    return (
        n,
        a_id,
        None if n % 7 == 3 else KEYWORDS[n % len(KEYWORDS)],
        None if n % 6 == 1 else (n * 13) % 17 - 5,
        None if n % 9 == 4 else Decimal(n * 137 % 2000 - 700) / 100,
    )


def _c_row(n):
    # w: small ints matching t_a.i / t_b.n, and NULLs (NOT IN with NULLs).
    ws = [0, 1, -1, 7, None, 3, 42, None, -5, 100, 5, 8]
    nvs = [
        "0", "0.00000000000000000001", "-1.5", "123456789012345678.12345678901234567890",
        None, "1e-20", "2", "-0.3333333333", "10", None, "5.5", "0.1",
    ]
    return (ws[n], KEYWORDS[n % len(KEYWORDS)],
            None if nvs[n] is None else Decimal(nvs[n]))


def rows():
    """Every table's rows, in a fixed order."""
    return {
        "t_a": [_a_row(n) for n in range(1, 61)],
        "t_b": [_b_row(n) for n in range(1, 81)],
        "t_c": [_c_row(n) for n in range(0, 12)],
    }


def column_kinds():
    return {t: {c[0]: (c[1], c[2]) for c in cols} for t, cols in TABLES.items()}


# ---------------------------------------------------------------- loaders

def _create_sql(table, dialect):
    cols = []
    for name, _kind, nullable, my, pg, _arrow in TABLES[table]:
        ty = my if dialect == "mysql" else pg
        if dialect == "redshift" and ty == "numeric":
            ty = "numeric(38,20)"  # Redshift has no numeric without a precision
        cols.append(f"{name} {ty}{'' if nullable else ' NOT NULL'}")
    if table in KEYS:
        cols.append(f"PRIMARY KEY ({', '.join(KEYS[table])})")
    return f"CREATE TABLE {table} ({', '.join(cols)})"


def load_postgres(conn, schema, data, dialect="postgres"):
    """Creates `schema` in the connected database and loads every table (psycopg2)."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        for table in TABLES:
            cur.execute(f"SET search_path = {schema}")
            cur.execute(_create_sql(table, dialect))
    conn.commit()
    for table in TABLES:
        replace_postgres(conn, schema, table, data[table])


def replace_postgres(conn, schema, table, rows):
    """Makes `rows` the whole content of `schema.table`."""
    from psycopg2.extras import execute_values
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {schema}.{table}")
        if rows:
            execute_values(cur, f"INSERT INTO {schema}.{table} VALUES %s", rows)
    conn.commit()


def load_mysql(conn, data):
    """Loads every table into the connected MariaDB database (PyMySQL)."""
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(_create_sql(table, "mysql"))
    for table in TABLES:
        replace_mysql(conn, table, data[table])


def replace_mysql(conn, table, rows):
    """Makes `rows` the whole content of `table`."""
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"DELETE FROM {table}")
        marks = ", ".join(["%s"] * len(TABLES[table]))
        fixed = [tuple(v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v for v in r) for r in rows]
        if fixed:
            cur.executemany(f"INSERT INTO {table} VALUES ({marks})", fixed)
    conn.commit()


def arrow_type(spec):
    import pyarrow as pa
    if spec.startswith("decimal("):
        p, s = spec[8:-1].split(",")
        return pa.decimal128(int(p), int(s))
    if spec == "timestamp[us]":
        return pa.timestamp("us")
    if spec == "timestamp[us, tz=UTC]":
        return pa.timestamp("us", tz="UTC")
    return {"int32": pa.int32(), "int64": pa.int64(), "uint32": pa.uint32(), "float64": pa.float64(),
            "string": pa.string(), "date32": pa.date32()}[spec]


def parquet_file(table, rows):
    """One table's rows as Parquet bytes."""
    import io
    import pyarrow as pa
    import pyarrow.parquet as pq
    cols = TABLES[table]
    schema = pa.schema([pa.field(c[0], arrow_type(c[5]), nullable=c[2]) for c in cols])
    columns = [[r[i] for r in rows] for i in range(len(cols))]
    arrays = [pa.array(v, type=f.type) for v, f in zip(columns, schema)]
    buf = io.BytesIO()
    # Two row groups, so that pruning and multi-group reads are exercised.
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), buf, row_group_size=32)
    return buf.getvalue()


def parquet_files(data):
    """{table: parquet bytes}."""
    return {table: parquet_file(table, data[table]) for table in TABLES}


def write_parquet_dir(root, schema, files, name="part-0.parquet"):
    """Each table's file becomes the only one in its folder."""
    for table, blob in files.items():
        d = os.path.join(root, schema, table)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.remove(os.path.join(d, old))
        with open(os.path.join(d, name), "wb") as f:
            f.write(blob)


def s3_client(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="difftest", aws_secret_access_key="difftest")


def upload_parquet_s3(endpoint, bucket, schema, files):
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=bucket)
    for table, blob in files.items():
        s3.put_object(Bucket=bucket, Key=f"data/{schema}/{table}/part-0.parquet", Body=blob)
    return s3


def replace_parquet_s3(s3, bucket, schema, table, blob, name):
    """Makes `name` the only file of `table`."""
    prefix = f"data/{schema}/{table}/"
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.put_object(Bucket=bucket, Key=prefix + name, Body=blob)


def drop_bucket(s3, bucket):
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
