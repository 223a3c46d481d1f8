"""psqlODBC (through pyodbc) against a running fedsql, or any PostgreSQL: the ODBC catalog
calls BI tools make (SQLTables, SQLColumns with and without a schema, SQLPrimaryKeys,
SQLForeignKeys both ways, SQLStatistics) and a declare/fetch cursor read
(UseDeclareFetch=1;Fetch=2), each compared with the fixture's expected answer.

Connection, like the other client programs: FEDSQL_PORT (or --port), user analyst and
database fedsql unless --host/--db/--user/--password (or FEDSQL_HOST, FEDSQL_DB,
FEDSQL_USER, FEDSQL_PASSWORD) say otherwise. The driver is --driver, PSQLODBC_DRIVER, or
the first psqlodbcw.so found in the usual places (Debian: odbc-postgresql).

What to expect is one JSON object, --expect '<json>' or --expect @file (or ODBC_EXPECT):
  {
    "schema": "shop",                       # the schema every call below names
    "tables": ["customers", "orders"],      # exactly what SQLTables(schema) lists; or {"name": "TABLE"|"VIEW", ...}
    "columns": {"orders": [["id", "int4"], ["amount", "numeric", 12, 2]]},
                                            # [name, TYPE_NAME(, COLUMN_SIZE, DECIMAL_DIGITS)] in ordinal order
    "search_path": "shop",                  # optional: SET at connect (ConnSettings); SQLColumns without a
                                            # schema looks in current_schema() only
    "unqualified": true,                    # optional (default true): also check SQLColumns without a schema
    "primary_keys": {"orders": ["id"]},     # key columns in KEY_SEQ order; [] = no key
    "foreign_keys": [{"table": "orders", "columns": ["customer_id"], "ref_table": "customers",
                      "ref_columns": ["id"], "ref_schema": "shop", "name": "orders_customer_id_fkey"}],
                                            # ref_schema defaults to schema, name is optional; every table in
                                            # "columns" must have exactly the foreign keys listed for it
    "indexes": {"orders": [{"name": "orders_pkey", "columns": ["id"], "unique": true}]},
                                            # exactly the indexes SQLStatistics returns for the table
    "cursor": {"sql": "SELECT ...", "rows": [[1, "Ann", "12.50"], ...]}
                                            # at least 3 rows (Fetch=2: several FETCHes); numerics as strings
  }

Positional arguments pick checks by name (tables, columns, primary_keys, foreign_keys,
statistics, cursor); every check runs otherwise. The first failing comparison of a check
raises; each check prints "odbc ok: <check>" or "odbc FAILED: <check>: <why>", and the
program exits nonzero if any failed.
"""
import argparse
import datetime
import glob
import json
import os
import sys
from decimal import Decimal

import pyodbc

DRIVER_GLOBS = ["/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so", "/usr/lib/*/odbc/psqlodbcw.so",
                "/usr/lib64/psqlodbcw.so", "/usr/lib/psqlodbcw.so", "/usr/local/lib/psqlodbcw.so",
                "/opt/homebrew/lib/psqlodbcw.so"]
SQL_TABLE_STAT = 0  # SQLStatistics' row about the table itself, not an index


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def find_driver(given):
    if given:
        if not os.path.exists(given):
            sys.exit(f"psqlODBC driver {given} does not exist")
        return given
    for pattern in DRIVER_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    sys.exit("psqlODBC driver (psqlodbcw.so) not found: install odbc-postgresql or pass --driver")


def kv(key, value):
    """One connection-string attribute, braced when the value needs it."""
    value = str(value)
    if any(c in value for c in ";{}=") or value != value.strip():
        value = "{" + value.replace("}", "}}") + "}"
    return f"{key}={value};"


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def norm(value):
    """A fetched value as the JSON fixture writes it."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


class Checks:
    def __init__(self, args, expect):
        self.args = args
        self.x = expect
        self.schema = expect["schema"]
        self.driver = find_driver(args.driver)

    def conn_str(self, extra="", settings=()):
        a = self.args
        s = (kv("Driver", self.driver) + kv("Server", a.host) + kv("Port", a.port) + kv("Database", a.db)
             + kv("Uid", a.user) + kv("Pwd", a.password))
        settings = [*settings, *([a.conn_settings] if a.conn_settings else [])]
        if settings:
            s += kv("ConnSettings", ";".join(settings))
        return s + extra

    def connect(self, extra=""):
        settings = []
        if self.x.get("search_path"):
            settings.append("SET search_path TO " + quote_ident(self.x["search_path"]))
        return pyodbc.connect(self.conn_str(extra, settings), autocommit=True, timeout=30)

    def tables(self, cur):
        want = self.x["tables"]
        rows = cur.tables(schema=self.schema).fetchall()
        eq({r.table_schem for r in rows} - {self.schema}, set(), "SQLTables(schema): other schemas")
        if isinstance(want, dict):
            eq({r.table_name: r.table_type for r in rows}, want, f"SQLTables(schema={self.schema!r}) names and types")
        else:
            eq(sorted(r.table_name for r in rows), sorted(want), f"SQLTables(schema={self.schema!r})")
        return f"{len(rows)} tables in {self.schema}"

    def _columns(self, rows, table, want, what):
        eq({(r.table_schem, r.table_name) for r in rows}, {(self.schema, table)}, f"{what}: schema and table")
        eq([(r.column_name, r.type_name) for r in rows], [(c[0], c[1]) for c in want], f"{what}: names and TYPE_NAMEs")
        eq([r.ordinal_position for r in rows], list(range(1, len(rows) + 1)), f"{what}: ORDINAL_POSITION")
        for r, c in zip(rows, want):
            if len(c) > 2:
                eq((r.column_size, r.decimal_digits), (c[2], c[3] if len(c) > 3 else r.decimal_digits),
                   f"{what}: {c[0]} COLUMN_SIZE, DECIMAL_DIGITS")
            if r.data_type is None or r.sql_data_type is None:
                raise AssertionError(f"{what}: {c[0]} has no DATA_TYPE/SQL_DATA_TYPE: {tuple(r)!r}")

    def columns(self, cur):
        n = 0
        for table, want in self.x["columns"].items():
            rows = cur.columns(table=table, schema=self.schema).fetchall()
            self._columns(rows, table, want, f"SQLColumns({table!r}, schema={self.schema!r})")
            n += len(rows)
            if self.x.get("unqualified", True):
                rows = cur.columns(table=table).fetchall()
                self._columns(rows, table, want, f"SQLColumns({table!r}) without a schema (current_schema())")
        return f"{n} columns in {len(self.x['columns'])} tables"

    def primary_keys(self, cur):
        for table, want in self.x.get("primary_keys", {}).items():
            rows = cur.primaryKeys(table, schema=self.schema).fetchall()
            eq([(r.column_name, r.key_seq) for r in rows], [(c, i + 1) for i, c in enumerate(want)],
               f"SQLPrimaryKeys({table!r}, schema={self.schema!r})")
            eq({(r.table_schem, r.table_name) for r in rows}, {(self.schema, table)} if want else set(),
               f"SQLPrimaryKeys({table!r}): schema and table")
            if want and not rows[0].pk_name:
                raise AssertionError(f"SQLPrimaryKeys({table!r}): no PK_NAME")
        return f"{len(self.x.get('primary_keys', {}))} tables"

    def foreign_keys(self, cur):
        fks = self.x.get("foreign_keys", [])
        tables = set(self.x["columns"]) | {fk["table"] for fk in fks}
        referenced = {(fk.get("ref_schema", self.schema), fk["ref_table"]) for fk in fks}

        def shape(rows):
            keys = {}
            for r in rows:
                key = (r.fktable_schem, r.fktable_name, r.fk_name, r.pktable_schem, r.pktable_name)
                keys.setdefault(key, []).append((r.key_seq, r.fkcolumn_name, r.pkcolumn_name))
            out = []
            for (fs, ft, name, ps, pt), cols in keys.items():
                cols.sort()
                eq([c[0] for c in cols], list(range(1, len(cols) + 1)), f"SQLForeignKeys {name}: KEY_SEQ")
                out.append((fs, ft, name, ps, pt, tuple(c[1] for c in cols), tuple(c[2] for c in cols)))
            return sorted(out, key=repr)

        def wanted(pred):
            out = []
            for fk in fks:
                if not pred(fk):
                    continue
                out.append((self.schema, fk["table"], fk.get("name"), fk.get("ref_schema", self.schema),
                            fk["ref_table"], tuple(fk["columns"]), tuple(fk["ref_columns"])))
            return out

        def compare(got, want, what):
            # FK_NAME is compared where the fixture gives one.
            eq(sorted([g[:2] + g[3:] for g in got], key=repr), sorted([w[:2] + w[3:] for w in want], key=repr), what)
            names = {g[:2] + g[3:]: g[2] for g in got}
            for w in want:
                if w[2] is not None:
                    eq(names[w[:2] + w[3:]], w[2], f"{what}: FK_NAME")

        for table in sorted(tables):
            # pyodbc: foreignTable= is SQLForeignKeys' FK table (the keys the table holds).
            got = shape(cur.foreignKeys(foreignTable=table, foreignSchema=self.schema).fetchall())
            compare(got, wanted(lambda fk: fk["table"] == table), f"SQLForeignKeys(FK table {self.schema}.{table})")
        for schema, table in sorted(referenced):
            # table= is the PK table: the keys that point at it.
            got = shape(cur.foreignKeys(table=table, schema=schema).fetchall())
            compare(got, wanted(lambda fk: (fk.get("ref_schema", self.schema), fk["ref_table"]) == (schema, table)),
                    f"SQLForeignKeys(PK table {schema}.{table})")
        return f"{len(fks)} foreign keys over {len(tables)} tables"

    def statistics(self, cur):
        n = 0
        for table, want in self.x.get("indexes", {}).items():
            for unique in (False, True):
                what = f"SQLStatistics({table!r}, schema={self.schema!r}, unique={unique})"
                rows = cur.statistics(table, schema=self.schema, unique=unique).fetchall()
                idx = {}
                for r in rows:
                    if r.type == SQL_TABLE_STAT:
                        continue
                    eq((r.table_schem, r.table_name), (self.schema, table), f"{what}: schema and table")
                    if r.column_name in (None, "UNKNOWN"):
                        raise AssertionError(f"{what}: index {r.index_name} column {r.ordinal_position} has no name "
                                             f"(indkey not read as int2vector, or attnum not in SQLColumns): {tuple(r)!r}")
                    i = idx.setdefault(r.index_name, {"columns": [], "unique": not r.non_unique})
                    eq(r.ordinal_position, len(i["columns"]) + 1, f"{what}: {r.index_name} ORDINAL_POSITION")
                    eq(not r.non_unique, i["unique"], f"{what}: {r.index_name} NON_UNIQUE on every row")
                    i["columns"].append(r.column_name)
                exp = {w["name"]: {"columns": w["columns"], "unique": w["unique"]} for w in want
                       if w["unique"] or not unique}
                eq(idx, exp, what)
                n += len(idx) if not unique else 0
        return f"{n} indexes"

    def cursor(self, _cur):
        spec = self.x["cursor"]
        want = [list(r) for r in spec["rows"]]
        if len(want) < 3:
            raise ValueError("the cursor check needs at least 3 expected rows (Fetch=2 must FETCH more than once)")
        got_total = 0
        for autocommit in (False, True):
            what = f"UseDeclareFetch=1;Fetch=2 (autocommit={autocommit})"
            conn = self.connect(kv("UseDeclareFetch", 1) + kv("Fetch", 2))
            conn.autocommit = autocommit
            cur = conn.cursor()
            cur.execute(spec["sql"])
            got = []
            while True:
                row = cur.fetchone()
                if row is None:
                    break
                got.append([norm(v) for v in row])
            eq(len(got), len(want), f"{what}: row count")
            eq(got, want, f"{what}: rows")
            cur.close()
            if not autocommit:
                conn.commit()
            # The connection is still good after the cursor is closed.
            cur = conn.cursor()
            cur.execute("SELECT 1")
            eq(cur.fetchone()[0], 1, f"{what}: a query after the cursor")
            conn.close()
            got_total += len(got)
        return f"{got_total} rows read through FETCH 2"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checks", nargs="*", help="checks to run (default: all)")
    p.add_argument("--host", default=os.environ.get("FEDSQL_HOST", "127.0.0.1"))
    p.add_argument("--port", default=os.environ.get("FEDSQL_PORT"))
    p.add_argument("--db", default=os.environ.get("FEDSQL_DB", "fedsql"))
    p.add_argument("--user", default=os.environ.get("FEDSQL_USER", "analyst"))
    p.add_argument("--password", default=os.environ.get("FEDSQL_PASSWORD", ""))
    p.add_argument("--driver", default=os.environ.get("PSQLODBC_DRIVER"), help="path of psqlodbcw.so")
    p.add_argument("--expect", default=os.environ.get("ODBC_EXPECT"), help="JSON, or @file holding it")
    p.add_argument("--conn-settings", default=os.environ.get("ODBC_CONN_SETTINGS"),
                   help="extra SQL run at connect (psqlODBC ConnSettings), e.g. SET log_statement='all'")
    args = p.parse_args()
    if not args.port:
        p.error("no port: pass --port or set FEDSQL_PORT")
    if not args.expect:
        p.error("no expectations: pass --expect JSON (or @file) or set ODBC_EXPECT")
    text = args.expect
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    checks = Checks(args, json.loads(text))
    names = ["tables", "columns", "primary_keys", "foreign_keys", "statistics", "cursor"]
    unknown = set(args.checks) - set(names)
    if unknown:
        p.error(f"unknown checks {sorted(unknown)}; known: {names}")
    conn = checks.connect()
    failed = []
    for name in names:
        if args.checks and name not in args.checks:
            continue
        try:
            summary = getattr(checks, name)(conn.cursor())
            print(f"odbc ok: {name}: {summary}")
        except Exception as e:  # report every check, then fail
            import traceback
            traceback.print_exc()
            print(f"odbc FAILED: {name}: {e}")
            failed.append(name)
    conn.close()
    if failed:
        sys.exit(f"psqlODBC checks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
