"""fedsql's differential tester.

Loads one dataset into MariaDB, PostgreSQL, local Parquet and Parquet on S3, serves them
through a fedsql process as catalogs `my` (mysql), `pg` (postgres), `rs` (redshift over
PostgreSQL), `pq` (local Parquet) and `s3` (Parquet on S3), and compares the answer of
every generated query with:

- the oracle: PostgreSQL running the same SQL on its own copy, in a C-collation database;
- fedsql itself with pushdown switched off (`SET fedsql.pushdown = off`).

Every mismatch or internal error is shrunk to the smallest query that still fails, then
(for the first few) to the fewest rows of each table it reads with which it still fails,
and printed as a reproduction; `regressions.sql` keeps the ones found so far.

    python3 difftest.py --fedsql PATH [--queries N] [--seed S] [--seconds T]
"""

import argparse
import collections
import functools
import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
import decimal
from decimal import Decimal

import psycopg
import psycopg2
import psycopg2.extensions
import pymysql

import data
import grammar
from grammar import Generator

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ["my", "pg", "rs", "pq", "s3"]
S3_ENDPOINT = "http://127.0.0.1:9000"
SCHEMA = "dt"

# Worker threads take their context from DefaultContext.
decimal.DefaultContext.prec = 200
decimal.setcontext(decimal.Context(prec=200))

# Values psycopg2 would otherwise hand back as strings of unknown types.
psycopg2.extensions.register_type(psycopg2.extensions.UNICODE)


# ---------------------------------------------------------------- environment

class World:
    """Every source loaded, a fedsql server over them, and the oracle."""

    def __init__(self, keep=False):
        self.tag = f"difft_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.keep = keep
        self.cleanups = []
        self.files = 0

    def setup(self, fedsql_bin):
        rows = data.rows()
        # MariaDB
        self.my_db = self.tag
        my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", charset="utf8mb4")
        with my.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.my_db} CHARACTER SET utf8mb4")
        my.select_db(self.my_db)
        self.cleanups.append(lambda: self._mysql(f"DROP DATABASE IF EXISTS {self.my_db}"))
        data.load_mysql(my, rows)
        my.close()
        # PostgreSQL: the source (the server's default collation), a stand-in for Redshift
        # (backslashes in literals are escapes, numerics have a precision), and the oracle
        # (byte-wise C collation, UTF-8 character classes).
        self.pg_db, self.rs_db, self.oracle_db = self.tag, self.tag + "_rs", self.tag + "_oracle"
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.pg_db}")
            cur.execute(f"CREATE DATABASE {self.rs_db}")
            cur.execute(f"ALTER DATABASE {self.rs_db} SET standard_conforming_strings = off")
            cur.execute(f"ALTER DATABASE {self.rs_db} SET escape_string_warning = off")
            cur.execute(f"CREATE DATABASE {self.oracle_db} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'")
        admin.close()
        for db, dialect in ((self.pg_db, "postgres"), (self.rs_db, "redshift"), (self.oracle_db, "postgres")):
            self.cleanups.append(lambda db=db: self._pg_admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            c = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=db)
            data.load_postgres(c, SCHEMA, rows, dialect)
            if db == self.oracle_db:
                with c.cursor() as cur:
                    cur.execute(EXACT_NUMERIC)
                c.commit()
            c.close()
        # Parquet, local and on S3.
        self.dir = tempfile.mkdtemp(prefix=self.tag)
        self.cleanups.append(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        files = data.parquet_files(rows)
        data.write_parquet_dir(os.path.join(self.dir, "parquet"), SCHEMA, files)
        self.bucket = self.tag.replace("_", "-")
        s3 = self.s3 = data.upload_parquet_s3(S3_ENDPOINT, self.bucket, SCHEMA, files)
        self.cleanups.append(lambda: data.drop_bucket(s3, self.bucket))
        # Catalogs and the server.
        cats = os.path.join(self.dir, "catalogs")
        os.makedirs(cats)
        pg = ('host = "127.0.0.1"\nport = 5432\nuser = "postgres"\ndatabase = "%s"\n'
              'sslmode = "disable"\nschemas = ["%s"]\n')
        catalogs = {
            "my": f'connector = "mysql"\nurl = "mysql://root@127.0.0.1:3306/{self.my_db}"\nsslmode = "disable"\n',
            "pg": 'connector = "postgres"\n' + pg % (self.pg_db, SCHEMA),
            "rs": 'connector = "redshift"\n' + pg % (self.rs_db, SCHEMA),
            "pq": f'connector = "parquet"\nlocation = "file://{self.dir}/parquet/"\n',
            "s3": (f'connector = "parquet"\nlocation = "s3://{self.bucket}/data/"\n[s3]\n'
                   f'endpoint = "{S3_ENDPOINT}"\nregion = "us-east-1"\naccess_key_id = "difftest"\n'
                   'secret_access_key = "difftest"\nallow_http = true\n'),
        }
        for name, text in catalogs.items():
            with open(os.path.join(cats, f"{name}.toml"), "w") as f:
                f.write(text)
        self.server = Server(fedsql_bin, cats)
        self.cleanups.append(self.server.stop)

    def replace(self, table, rows, targets):
        """Makes `rows` the whole content of `table` in `targets` (None: the oracle)."""
        blob = None
        for t in targets:
            if t == "my":
                c = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=self.my_db,
                                    charset="utf8mb4")
                data.replace_mysql(c, table, rows)
                c.close()
            elif t in ("pg", "rs", None):
                db = {"pg": self.pg_db, "rs": self.rs_db, None: self.oracle_db}[t]
                c = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=db)
                data.replace_postgres(c, SCHEMA, table, rows)
                c.close()
            else:
                # A new file name each time: no cache keyed by the file can serve the old rows.
                blob = blob or data.parquet_file(table, rows)
                self.files += 1
                name = f"part-{self.files}.parquet"
                if t == "pq":
                    data.write_parquet_dir(os.path.join(self.dir, "parquet"), SCHEMA, {table: blob}, name)
                else:
                    data.replace_parquet_s3(self.s3, self.bucket, SCHEMA, table, blob, name)

    def names(self, target):
        """Full table names of one target, for fedsql."""
        schema = self.my_db if target == "my" else SCHEMA
        return lambda table: f"{target}.{schema}.{table}"

    @staticmethod
    def _mysql(sql):
        c = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
        with c.cursor() as cur:
            cur.execute(sql)
        c.close()

    @staticmethod
    def _pg_admin(sql):
        c = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute(sql)
        c.close()

    def close(self):
        if self.keep:
            print(f"kept: MariaDB {self.my_db}, PostgreSQL {self.pg_db}/{self.rs_db}/{self.oracle_db}, {self.dir}, s3://{self.bucket}")
            self.server.stop()
            return
        for c in reversed(self.cleanups):
            try:
                c()
            except Exception as e:  # cleanup goes on
                print(f"cleanup: {e}", file=sys.stderr)


class Server:
    def __init__(self, binary, catalogs):
        self.log = []
        self.proc = subprocess.Popen(
            [binary, "serve", "--catalogs", catalogs, "--listen", "127.0.0.1:0"],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "fedsql=info,warn")})
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("fedsql exited before listening:\n" + "".join(self.log))
            self.log.append(line)
            m = re.search(r"fedsql listening on .*:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)
            del self.log[:-200]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Conn:
    """One autocommit session that survives errors and reconnects after a crash."""

    def __init__(self, connect, setup):
        self.connect, self.setup = connect, setup
        self.c = None

    def run(self, sql):
        """(rows, None) or (None, (sqlstate, message))."""
        for attempt in range(2):
            try:
                if self.c is None or self.c.closed:
                    self.c = self.connect()
                    self.c.autocommit = True
                    with self.c.cursor() as cur:
                        for s in self.setup:
                            cur.execute(s)
                with self.c.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetchall(), None
            except psycopg2.Error as e:
                if e.pgcode:
                    return None, (e.pgcode, e.pgerror.strip().splitlines()[0] if e.pgerror else str(e))
                self.c = None
                if attempt == 1:
                    return None, ("CONN", str(e).strip())
        raise AssertionError("unreachable")


class PreparedConn(Conn):
    """A session that runs each query as a prepared statement, its literals sent as
    parameters where it has them, executed twice: the second Execute reads the plan the
    first one kept (engine/plan_cache.rs)."""

    # A new session before psycopg's cache of prepared statements would evict one.
    PER_SESSION = 90

    def run(self, sql, params=None):
        self.runs = getattr(self, "runs", 0) + 1
        if self.runs % self.PER_SESSION == 0 and self.c is not None:
            self.c.close()
        for attempt in range(2):
            try:
                if self.c is None or self.c.closed:
                    self.c = self.connect()
                    for s in self.setup:
                        self.c.execute(s)
                with self.c.cursor() as cur:
                    cur.execute(sql, params, prepare=True)
                    first = cur.fetchall()
                    cur.execute(sql, params, prepare=True)
                    second = cur.fetchall()
                self.first = first
                return second, None
            except psycopg.Error as e:
                if e.sqlstate:
                    return None, (e.sqlstate, str(e).strip().splitlines()[0])
                self.c = None
                if attempt == 1:
                    return None, ("CONN", str(e).strip())
        raise AssertionError("unreachable")


# ---------------------------------------------------------------- comparison

def norm(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.timezone.utc)
    if isinstance(v, (memoryview, bytes)):
        return bytes(v)
    return v


def sort_key(row, noise=0.0):
    out = []
    for v in row:
        if v is None:
            out.append((0, "", ""))
        elif isinstance(v, (Decimal, float)):
            f = float(v) + 0.0  # -0.0 sorts as 0.0
            if isinstance(v, float) and abs(f) < noise:
                f = 0.0
            # Approximately first (a float and a decimal of one value sort together), then
            # exactly, so that decimals that differ past the 9th digit stay in order.
            exact = str(v.normalize()) if isinstance(v, Decimal) else ""
            out.append((1, f"{f:.9e}" if math.isfinite(f) else str(f), exact))
        else:
            out.append((2, f"{type(v).__name__}:{v}", ""))
    return out


# PostgreSQL's float variance (Youngs-Cramer) leaves rounding noise where the exact answer,
# and DataFusion's, is 0: stddev of ten 0.1s is 1.08e-17 there, of copies of 1e150 3.8e269.
# The oracle computes statistics in numeric instead (`exact_statistics`), and in the answers
# of a query with a statistic, floats this close to zero are taken as zero.
STATISTICS_NOISE = 1e-12
STATISTIC = re.compile(r"\b(stddev|stddev_pop|stddev_samp|variance|var_pop|var_samp)\(", re.I)


# The exact value of a number as a numeric. PostgreSQL casts a double to numeric at 15
# digits (and its text has 17): 1e15 + 0.1 is 1000000000000000.125, which both make
# ...000.1. Scaled by a power of two into [2^52, 2^53) a double is an integer; that
# integer times 5^k, shifted k decimal places, is the double's value. Every value gets at
# least 20 decimals: PostgreSQL's numeric variance keeps twice its input's scale, so the
# stddev of integers near 1e9 came out rounded to an integer.
EXACT_NUMERIC = f"""
CREATE FUNCTION {SCHEMA}.exact_numeric(x numeric) RETURNS numeric IMMUTABLE LANGUAGE sql
  AS 'SELECT CASE WHEN scale(x) < 20 THEN round(x, 20) ELSE x END';
CREATE FUNCTION {SCHEMA}.exact_numeric(x float8) RETURNS numeric IMMUTABLE LANGUAGE plpgsql AS $$
DECLARE
  k int := 0;
  m float8 := abs(x);
BEGIN
  IF x IS NULL THEN RETURN NULL; END IF;
  IF x = 0 OR x = 'NaN'::float8 OR m = 'Infinity'::float8 THEN RETURN x::numeric; END IF;
  k := 52 - floor(ln(m) / ln(2::float8))::int;
  m := m * power(2::float8, k / 2) * power(2::float8, k - k / 2);
  WHILE m >= 9007199254740992 LOOP m := m / 2; k := k - 1; END LOOP;
  WHILE m < 4503599627370496 LOOP m := m * 2; k := k + 1; END LOOP;
  IF k <= 0 THEN
    RETURN {SCHEMA}.exact_numeric(sign(x)::numeric * m::bigint::numeric * trim_scale(2::numeric ^ (-k)));
  END IF;
  RETURN {SCHEMA}.exact_numeric(((sign(x)::numeric * m::bigint::numeric * trim_scale(5::numeric ^ k))::text || 'e-' || k)::numeric);
END $$;
CREATE FUNCTION {SCHEMA}.exact_numeric(x bigint) RETURNS numeric IMMUTABLE LANGUAGE sql AS 'SELECT round(x::numeric, 20)';
CREATE FUNCTION {SCHEMA}.exact_numeric(x integer) RETURNS numeric IMMUTABLE LANGUAGE sql AS 'SELECT round(x::numeric, 20)';
"""


def exact_statistics(sql):
    """`sql` with every variance-family call over its argument in numeric, as a double:
    the exact value, which fedsql's double answer must match to 1e-9."""
    out, i = [], 0
    while True:
        m = STATISTIC.search(sql, i)
        if not m:
            out.append(sql[i:])
            return "".join(out)
        depth, j = 1, m.end()
        while depth and j < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            j += 1
        inner = exact_statistics(sql[m.end():j - 1])
        out.append(sql[i:m.start()])
        out.append(f"CAST({m.group(1)}(exact_numeric({inner})) AS DOUBLE PRECISION)")
        i = j


def unpadded(d):
    """`d` without the zeros that end its fraction."""
    if d.as_tuple().exponent >= 0 or not d.is_finite():
        return d
    t = d.as_tuple()
    digits, exp = list(t.digits), t.exponent
    while exp < 0 and len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1
    return Decimal((t.sign, tuple(digits), exp))


def same_value(a, b, scale=0.0, noise=0.0):
    """Equal values; a float is compared within 1e-9 relative, or 1e-12 of the largest
    magnitude in its column (`scale`), or both within `noise` of zero."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (Decimal, float)) and isinstance(b, (Decimal, float)):
        if isinstance(a, float) or isinstance(b, float):
            fa, fb = float(a), float(b)
            if math.isnan(fa) or math.isnan(fb):
                return math.isnan(fa) and math.isnan(fb)
            return fa == fb or math.isclose(fa, fb, rel_tol=1e-9, abs_tol=max(1e-20, noise, 1e-12 * scale))
        if a == b:
            return True
        # A quotient (an average) printed to another number of digits: PostgreSQL picks a
        # numeric division's scale from the values (at least 16 significant digits); an
        # AVG of a decimal of scale s has scale s+4 here, as in MySQL. Equal when one value
        # could round to both: they differ by at most half a unit in each one's last place.
        # The shorter must have at least 4 fractional digits or 16 significant ones, so
        # that a value rounded to the wrong scale still fails. Trailing zeros are not
        # digits of the quotient: an AVG PostgreSQL computed (pushed down) to fewer
        # decimals than the engine's arrives padded to the engine's scale.
        a, b = unpadded(a), unpadded(b)
        ea, eb = a.as_tuple().exponent, b.as_tuple().exponent
        short = a if ea > eb else b
        exp = short.as_tuple().exponent
        quotient = exp <= -4 or len(short.as_tuple().digits) >= 16
        half_units = (Decimal(1).scaleb(ea) + Decimal(1).scaleb(eb)) / 2
        return quotient and ea != eb and abs(a - b) <= half_units
    return a == b


def column_scales(rows):
    scales = []
    for r in rows:
        for i, v in enumerate(r):
            if i == len(scales):
                scales.append(0.0)
            if isinstance(v, (Decimal, float)) and math.isfinite(float(v)):
                scales[i] = max(scales[i], abs(float(v)))
    return scales


def key_order(a, b, desc, nulls_first, scale, noise):
    """(-1, 0 or 1 in the ORDER BY's sense, whether a 0 is a near tie of floats)."""
    if a is None or b is None:
        if a is None and b is None:
            return 0, False
        return (-1 if (a is None) == nulls_first else 1), False
    if same_value(a, b, scale, noise):
        return 0, a != b
    nan_a = isinstance(a, float) and math.isnan(a)
    nan_b = isinstance(b, float) and math.isnan(b)
    less = (not nan_a and nan_b) or (not nan_a and not nan_b and a < b)
    return (-1 if less != desc else 1), False


def in_order(rows, order, scales, noise):
    """Whether `rows` follow `order`; past a near tie of floats, rounding noise decides."""
    for x, y in zip(rows, rows[1:]):
        for pos, direction, nulls in order:
            c, near = key_order(x[pos - 1], y[pos - 1], direction == "DESC", nulls == "NULLS FIRST",
                                scales[pos - 1], noise)
            if near or c < 0:
                break
            if c > 0:
                return False
    return True


def coarse(v):
    """A float to 9 significant digits (the tolerance of comparisons), anything else as is."""
    if isinstance(v, float) and math.isfinite(v):
        return float(f"{v:.9e}") + 0.0
    return v


def cut_tie_differs_only(e, g, order, equal, offset_cut=False):
    """Under a LIMIT: both answers, re-sorted with floats to 9 digits, are the same rows
    except in the block tied with the last row up to the first float key, where the cut
    may take different rows of one near tie; under an OFFSET, the block tied with the
    first row too (the rows skipped may end inside a near tie)."""
    def cmp(x, y):
        for pos, direction, nulls in order:
            c, _ = key_order(coarse(x[pos - 1]), coarse(y[pos - 1]), direction == "DESC",
                             nulls == "NULLS FIRST", 0.0, 0.0)
            if c:
                return c
        return 0
    ce, cg = sorted(e, key=functools.cmp_to_key(cmp)), sorted(g, key=functools.cmp_to_key(cmp))
    floats = [pos for pos, _, _ in order if any(isinstance(r[pos - 1], float) for r in e + g)]
    if not floats or not ce:
        return False
    prefix = [p for p, _, _ in order][: [p for p, _, _ in order].index(floats[0]) + 1]
    ends = [[coarse(ce[-1][p - 1]) for p in prefix]]
    if offset_cut:
        ends.append([coarse(ce[0][p - 1]) for p in prefix])
    in_tie = lambda r: [coarse(r[p - 1]) for p in prefix] in ends
    rest_e, rest_g = [r for r in ce if not in_tie(r)], [r for r in cg if not in_tie(r)]
    return len(rest_e) == len(rest_g) and all(equal(x, y) for x, y in zip(rest_e, rest_g))


def same_rows(expected, got, ordered, limited=None, noise=0.0):
    """Same rows, in order if `ordered`. `ordered` as a list of ORDER BY positions lets
    rows whose sort keys tie within float tolerance (an ORDER BY on an average) come in
    either order, and a LIMIT cut such a tie at a different row."""
    if len(expected) != len(got):
        return False
    e = [[norm(v) for v in r] for r in expected]
    g = [[norm(v) for v in r] for r in got]
    scales = column_scales(e)
    def equal(x, y):
        return len(x) == len(y) and all(same_value(a, b, s, noise) for a, b, s in zip(x, y, scales))
    if ordered and all(equal(x, y) for x, y in zip(e, g)):
        return True
    # A LIMIT that cuts rows makes the order of rows tied within float tolerance matter;
    # one that cuts nothing (fewer rows than it allows) does not.
    cut = ordered and limited and (limited[1] is not None or limited[0] is None or len(expected) >= limited[0])
    if isinstance(ordered, list):
        if not in_order(g, ordered, scales, noise):
            return False
        if cut:
            return cut_tie_differs_only(e, g, ordered, equal, offset_cut=limited[1] is not None)
    elif cut:
        return False
    e.sort(key=lambda r: sort_key(r, noise))
    g.sort(key=lambda r: sort_key(r, noise))
    return all(equal(x, y) for x, y in zip(e, g))


def first_difference(expected, got, ordered):
    """The first pair of rows that differ once both are in the compared order."""
    e = [[norm(v) for v in r] for r in expected]
    g = [[norm(v) for v in r] for r in got]
    if not ordered:
        e.sort(key=sort_key)
        g.sort(key=sort_key)
    for i, (x, y) in enumerate(zip(e, g)):
        if not (len(x) == len(y) and all(same_value(a, b) for a, b in zip(x, y))):
            return i, x, y
    return None


def diff_rows(expected, got, limit=8):
    e = collections.Counter(repr(tuple(norm(v) for v in r)) for r in expected)
    g = collections.Counter(repr(tuple(norm(v) for v in r)) for r in got)
    missing = list((e - g).elements())[:limit]
    extra = list((g - e).elements())[:limit]
    return missing, extra


# ---------------------------------------------------------------- running

class Outcome:
    OK, SKIP, WRONG, INTERNAL, ERROR, UNSUPPORTED = "ok", "oracle-rejected", "wrong", "internal", "error", "unsupported"


class Runner:
    def __init__(self, world, pushdown_off=True):
        self.world = world
        port = world.server.port
        fed = lambda: psycopg2.connect(host="127.0.0.1", port=port, user="difftest", dbname="fedsql")
        oracle = lambda: psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=world.oracle_db)
        common = ["SET TIME ZONE 'UTC'", "SET statement_timeout = '60s'"]
        self.fed = Conn(fed, common)
        # Without the second oracle (a fedsql older than the setting), "off" is "on" again.
        self.off = Conn(fed, common + (["SET fedsql.pushdown = off"] if pushdown_off else []))
        self.oracle = Conn(oracle, common + [f"SET search_path = {SCHEMA}"])
        prepared = lambda: psycopg.connect(host="127.0.0.1", port=port, user="difftest", dbname="fedsql", autocommit=True)
        self.prepared = PreparedConn(prepared, common)

    def check(self, fed_sql, oracle_sql, ordered, limited=None):
        """(outcome, detail) for one query."""
        noise = STATISTICS_NOISE if STATISTIC.search(fed_sql) else 0.0
        want, oerr = self.oracle.run(exact_statistics(oracle_sql))
        got, ferr = self.fed.run(fed_sql)
        off, offerr = self.off.run(fed_sql)
        kept, kepterr = self.prepared.run(*(getattr(fed_sql, "prepared", None) or (fed_sql, None)))
        if kepterr is None and not same_rows(self.prepared.first, kept, ordered, limited, noise):
            return Outcome.INTERNAL, {"error": "KEPT", "vs": "the first Execute", "expected": self.prepared.first, "got": kept}
        if oerr is not None:
            # PostgreSQL can't run it: pushdown on must still equal pushdown off.
            if ferr is None and offerr is None and not same_rows(off, got, ordered, limited, noise):
                return Outcome.WRONG, {"vs": "pushdown off", "expected": off, "got": got}
            if ferr is not None and ferr[0] == "XX000":
                return Outcome.INTERNAL, {"error": ferr}
            # A data exception where fedsql answered: a wrapped overflow, or PostgreSQL
            # evaluating a row that fedsql's plan never reaches. Listed, for a person.
            return Outcome.SKIP, {"oracle": oerr, "answered": ferr is None and oerr[0].startswith("22")}
        # Literals sent as parameters may be refused where written ones are not
        # (`GROUP BY coalesce(x, $2)` is not the `coalesce(x, $1)` selected), but a
        # prepared statement's answer must be the oracle's, and a crash is a bug.
        legs = [(got, ferr, "on"), (off, offerr, "off")]
        if kepterr is None or kepterr[0] in ("XX000", "CONN"):
            legs.append((kept, kepterr, "prepared"))
        for res, err, mode in legs:
            if err is not None:
                if err[0] in ("XX000", "CONN"):
                    return Outcome.INTERNAL, {"error": err, "pushdown": mode}
                if err[0] == "0A000":
                    return Outcome.UNSUPPORTED, {"error": err, "pushdown": mode}
                return Outcome.ERROR, {"error": err, "pushdown": mode}
            if not same_rows(want, res, ordered, limited, noise):
                return Outcome.WRONG, {"vs": "oracle", "pushdown": mode, "expected": want, "got": res}
        return Outcome.OK, None

    def failing(self, outcome):
        return outcome in (Outcome.WRONG, Outcome.INTERNAL, Outcome.ERROR)


def shape_of(sql):
    s = re.sub(r"'(?:[^']|'')*'", "?", sql)
    s = re.sub(r"\b\d+(\.\d+)?(e\d+)?\b", "?", s)
    s = re.sub(r"\b[a-z]\d+\.(\w+)", "x.c", s)
    s = re.sub(r"\bAS \w+", "", s)
    return s


def assignments(rng, n_slots):
    """Which target each table slot reads: one target for all, or a cross-source mix."""
    if rng.random() < 0.75 or n_slots < 2:
        t = rng.choice(TARGETS)
        return [t] * n_slots, t
    pool = rng.sample(TARGETS, rng.choice([2, 3]))
    picked = [rng.choice(pool) for _ in range(n_slots)]
    if len(set(picked)) == 1:
        picked[-1] = next(t for t in pool if t != picked[0])
    return picked, "+".join(sorted(set(picked)))


class FedSql(str):
    """fedsql's rendering of a query; `prepared` is it with its literals as parameters."""
    prepared = None


def render_both(world, query, targets):
    names = lambda slot, table: world.names(targets[slot])(table)
    fed = FedSql(query.render(names))
    fed.prepared = grammar.render_with_parameters(query, names)
    oracle = query.render(lambda slot, table: f"{table}")
    return fed, oracle


def minimize(runner, world, query, targets, outcome, budget=150):
    """Greedy delta reduction: the smallest variant that still fails the same way."""
    tried = 0
    improved = True
    while improved and tried < budget:
        improved = False
        for cand in query.shrink():
            tried += 1
            if tried > budget:
                break
            fed, oracle = render_both(world, cand, targets)
            o, _ = runner.check(fed, oracle, cand.ordered(), cand.limited())
            if o == outcome:
                query = cand
                improved = True
                break
    return query


def reduce_rows(world, where, still_fails, budget=150):
    """Delta debugging over the rows of each table in `where` ({table: targets}, None for
    the oracle): the fewest rows with which `still_fails()` holds, each table in turn.
    Returns {table: rows}; every table is restored to the full dataset afterwards."""
    full = data.rows()
    kept = {}
    tried = 0

    def fails(table, rows):
        nonlocal tried
        tried += 1
        world.replace(table, rows, where[table])
        return still_fails()

    try:
        for table in sorted(where):
            rows, n = list(full[table]), 2
            while rows and tried < budget:
                size = math.ceil(len(rows) / n)
                chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
                for i in range(len(chunks)):
                    rest = [r for j, c in enumerate(chunks) if j != i for r in c]
                    if fails(table, rest):
                        rows, n = rest, max(n - 1, 2)
                        break
                else:
                    if n >= len(rows):
                        break
                    n = min(len(rows), n * 2)
            world.replace(table, rows, where[table])
            kept[table] = rows
    finally:
        for table in where:
            world.replace(table, full[table], where[table])
    return kept


def query_tables(query, targets):
    """{table: the targets that read it, and the oracle (None)}."""
    where = collections.defaultdict(set)
    for slot, table in query.slots():
        where[table] |= {targets[slot], None}
    return {t: sorted(ts, key=str) for t, ts in where.items()}


def describe_rows(kept):
    """`t_a: 2 of 60 rows (id 3, 17)`, one line per table; rows in full where there is no key."""
    full = data.rows()
    out = []
    for table, rows in sorted(kept.items()):
        if len(rows) == len(full[table]):
            out.append(f"{table}: all {len(rows)} rows")
        elif not rows:
            out.append(f"{table}: none of {len(full[table])} rows")
        elif table in data.KEYS:
            out.append(f"{table}: {len(rows)} of {len(full[table])} rows (id {', '.join(str(r[0]) for r in rows)})")
        else:
            out.append(f"{table}: {len(rows)} of {len(full[table])} rows {[tuple(map(str, r)) for r in rows]}")
    return "; ".join(out)


def check_reducer(world):
    """The row reducer over every target: a query that returns a row while one particular
    row exists must shrink each table to that row, and every table must be whole after."""
    needle = 'say "hi"'
    want = [r for r in data.rows()["t_a"] if r[8] == needle]
    runner = Runner(world)

    def still_fails():
        for t in TARGETS:
            got, err = runner.fed.run(f"SELECT id FROM {world.names(t)('t_a')} WHERE s2 = '{needle}'")
            if err or not got:
                return False
        got, _ = runner.oracle.run(f"SELECT id FROM t_a WHERE s2 = '{needle}'")
        return bool(got)

    kept = reduce_rows(world, {"t_a": TARGETS + [None]}, still_fails)
    print(f"reducer: {describe_rows(kept)}")
    assert len(kept["t_a"]) == 1 and kept["t_a"][0] in want, f"the reducer kept {kept['t_a']}, expected one of {want}"
    for t in TARGETS:
        got, err = runner.fed.run(f"SELECT count(*) FROM {world.names(t)('t_a')}")
        assert err is None and got[0][0] == 60, f"{t}: after the reducer t_a has {got or err}, expected 60 rows"
    return 0


def load_known(path):
    """[(kind, regex, reason)] from known.txt."""
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        kind, regex, reason = [x.strip() for x in line.split(" | ", 2)]
        out.append((kind, re.compile(regex), reason))
    return out


def known_class(known, outcome, sqls, detail):
    for kind, regex, reason in known:
        if kind != outcome:
            continue
        if outcome == Outcome.WRONG and any(regex.search(s) for s in sqls):
            return reason
        if outcome != Outcome.WRONG and detail and "error" in detail and regex.search(detail["error"][1]):
            return reason
    return None


def load_regressions(path):
    """Entries of `regressions.sql`: comment lines `-- name:` and `-- targets:` before each statement."""
    entries, meta, sql = [], {}, []
    for line in open(path, encoding="utf-8"):
        s = line.rstrip("\n")
        if s.startswith("-- ") and ":" in s and not sql:
            k, v = s[3:].split(":", 1)
            meta[k.strip()] = v.strip()
            continue
        if not s.strip() and not sql:
            continue
        sql.append(s)
        if s.rstrip().endswith(";"):
            text = "\n".join(sql).rstrip().rstrip(";")
            entries.append((meta.get("name", text[:60]), meta.get("targets", " ".join(TARGETS)).split(),
                            meta.get("ordered", "no") == "yes", text))
            meta, sql = {}, []
    return entries


def render_template(world, text, target):
    """`{t_a}` as one target's table (or the oracle's, target None); `{my:t_a}` pins a target."""
    def sub(m):
        pinned, table = m.group(1), m.group(2)
        if target is None:
            return table
        return world.names(pinned or target)(table)
    return re.sub(r"\{(?:(\w+):)?(t_[a-z])\}", sub, text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fedsql", required=True)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=0, help="stop generating after this long (0: no limit)")
    ap.add_argument("--minimize", type=int, default=20, help="failures to shrink")
    ap.add_argument("--jobs", type=int, default=1, help="sessions checking generated queries at once")
    ap.add_argument("--minimize-rows", type=int, default=5, help="failures whose rows to shrink too")
    ap.add_argument("--check-reducer", action="store_true", help="check the row reducer on every target, then stop")
    ap.add_argument("--regressions", default=os.path.join(HERE, "regressions.sql"))
    ap.add_argument("--known", default=os.path.join(HERE, "known.txt"), help="failure classes not fixed yet")
    ap.add_argument("--report", default=None, help="write failures as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the loaded data and print where")
    ap.add_argument("--show", type=int, default=0, help="print the first N generated queries")
    ap.add_argument("--show-answered", type=int, default=10,
                    help="print up to N queries where PostgreSQL raised a data exception (22xxx) and fedsql answered")
    ap.add_argument("--no-pushdown-off", action="store_true", help="compare with the oracle only (a fedsql without SET fedsql.pushdown)")
    ap.add_argument("--no-known", action="store_true", help="count known failure classes as failures")
    args = ap.parse_args()

    start = time.monotonic()
    world = World(keep=args.keep)
    try:
        world.setup(args.fedsql)
        if args.check_reducer:
            return check_reducer(world)
        return run(world, args, start)
    finally:
        world.close()


def run(world, args, start):
    runner = Runner(world, pushdown_off=not args.no_pushdown_off)
    counts = collections.Counter()
    by_target = collections.defaultdict(collections.Counter)
    failures = []
    shapes = set()

    # 1. The regression corpus: every entry on every target it names.
    reg_fail = 0
    entries = load_regressions(args.regressions) if os.path.exists(args.regressions) else []
    for name, targets, ordered, text in entries:
        for t in targets:
            fed = render_template(world, text, t)
            oracle = render_template(world, text, None)
            o, detail = runner.check(fed, oracle, ordered, (None, 0) if ordered else None)
            counts["regression " + o] += 1
            if runner.failing(o) or o == Outcome.SKIP:
                reg_fail += 1
                failures.append({"kind": o, "regression": name, "target": t, "sql": fed, "oracle_sql": oracle,
                                 "detail": detail})
                print(f"REGRESSION {o}: {name} [{t}]\n  {fed}\n  {short(detail)}\n", flush=True)
    print(f"regressions: {len(entries)} entries, {sum(v for k, v in counts.items() if k.startswith('regression'))} runs, "
          f"{reg_fail} failing", flush=True)

    # 2. Generated queries, checked by `--jobs` sessions at once; failures are shrunk
    # afterwards, one at a time (the row reducer rewrites the tables every session reads).
    known = [] if args.no_known else load_known(args.known)
    known_seen = collections.Counter()
    gen = Generator(args.seed)
    import random
    rng = random.Random(args.seed * 7919 + 1)
    local = threading.local()

    def check_one(item):
        n, query, targets, label, fed, oracle = item
        if not hasattr(local, "runner"):
            local.runner = Runner(world, pushdown_off=not args.no_pushdown_off)
        return item, local.runner.check(fed, oracle, query.ordered(), query.limited())

    found = []
    answered = []
    done = 0
    pool = ThreadPoolExecutor(max_workers=max(args.jobs, 1))
    while done < args.queries:
        if args.seconds and time.monotonic() - start > args.seconds:
            break
        batch = []
        for n in range(done, min(done + 500, args.queries)):
            query = gen.query()
            slots = sorted(query.slots())
            targets, label = assignments(rng, max([s for s, _ in slots], default=0) + 1)
            fed, oracle = render_both(world, query, targets)
            if n < args.show:
                print(f"[{label}] {fed}")
            batch.append((n, query, targets, label, fed, oracle))
        for (n, query, targets, label, fed, oracle), (o, detail) in pool.map(check_one, batch):
            done += 1
            group = label if "+" not in label else "cross"
            counts[o] += 1
            by_target[group][o] += 1
            if o != Outcome.SKIP:
                shapes.add(shape_of(oracle))
            elif detail.get("answered"):
                counts["oracle raised, fedsql answered"] += 1
                if len(answered) < args.show_answered:
                    answered.append((label, fed, detail["oracle"]))
            if runner.failing(o):
                reason = known_class(known, o, [fed, oracle], detail)
                if reason is not None:
                    counts[o] -= 1
                    counts["known"] += 1
                    by_target[group][o] -= 1
                    by_target[group]["known"] += 1
                    known_seen[reason] += 1
                    continue
                found.append((n, query, targets, label, fed, o, detail))
        print(f"... {done} queries, {dict(counts)} ({time.monotonic() - start:.0f}s)", flush=True)
    pool.shutdown()

    # 3. Each failure shrunk to its smallest query, then (the first of each kind) its rows.
    minimized = rows_minimized = 0
    seen_failures = set()
    for n, query, targets, label, fed, o, detail in found:
        small = query
        if minimized < args.minimize:
            minimized += 1
            small = minimize(runner, world, query, targets, o)
        sfed, soracle = render_both(world, small, targets)
        _, sdetail = runner.check(sfed, soracle, small.ordered(), small.limited())
        sig = (o, shape_of(soracle), label)
        rows = None
        if sig not in seen_failures and rows_minimized < args.minimize_rows:
            rows_minimized += 1

            def still_fails():
                return runner.check(sfed, soracle, small.ordered(), small.limited())[0] == o

            rows = reduce_rows(world, query_tables(small, targets), still_fails)
        failures.append({"kind": o, "target": label, "query": n, "sql": sfed, "oracle_sql": soracle,
                         "ordered": small.ordered(), "detail": sdetail or detail, "original": fed, "rows": rows})
        if sig not in seen_failures:
            seen_failures.add(sig)
            print(f"FAIL {o} [{label}] query {n}:\n  fedsql: {sfed}\n  oracle: {soracle}\n  {short(sdetail or detail)}\n"
                  + (f"  rows: {describe_rows(rows)}\n" if rows else ""), flush=True)

    for label, fed, oerr in answered:
        print(f"ORACLE RAISED, FEDSQL ANSWERED [{label}] {oerr[0]} {oerr[1]}\n  {fed}")
    elapsed = time.monotonic() - start
    print(f"\n{done} generated queries in {elapsed:.0f}s, {len(shapes)} distinct shapes answered")
    for label in sorted(by_target):
        print(f"  {label:6} " + ", ".join(f"{k} {v}" for k, v in sorted(by_target[label].items())))
    for reason, n in known_seen.most_common():
        print(f"  known ({n}): {reason}")
    bad = sum(counts[k] for k in (Outcome.WRONG, Outcome.INTERNAL, Outcome.ERROR))
    print(f"wrong {counts[Outcome.WRONG]}, internal {counts[Outcome.INTERNAL]}, other errors {counts[Outcome.ERROR]}, known {counts['known']}, "
          f"unsupported {counts[Outcome.UNSUPPORTED]}, oracle-rejected {counts[Outcome.SKIP]} "
          f"(a data exception fedsql answered: {counts['oracle raised, fedsql answered']}), ok {counts[Outcome.OK]}; "
          f"regressions failing {reg_fail}")
    if args.report:
        with open(args.report, "w") as f:
            json.dump(failures, f, indent=1, default=str)
    return 1 if bad or reg_fail else 0


def short(detail, width=600):
    if not detail:
        return ""
    if "expected" in detail:
        missing, extra = diff_rows(detail["expected"], detail["got"])
        first = first_difference(detail["expected"], detail["got"], False)
        s = (f"vs {detail.get('vs')} (pushdown {detail.get('pushdown', 'on')}): expected {len(detail['expected'])} rows, "
             f"got {len(detail['got'])}; first difference (sorted) {first}; missing {missing[:3]}; extra {extra[:3]}")
    else:
        s = str(detail)
    return s[:width]


if __name__ == "__main__":
    sys.exit(main())
