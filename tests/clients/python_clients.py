"""psycopg2, psycopg 3, SQLAlchemy (on both) and asyncpg against a running fedsql.

Run by tests/clients.rs with FEDSQL_PORT and SHOP_SCHEMA (the MySQL database of the
fixture) set. Every check compares an answer; the first failure raises.
"""
import asyncio
import datetime
import os
import sys
import uuid
from decimal import Decimal

from metabase_sync import metabase_sync

PORT = int(os.environ["FEDSQL_PORT"])
SHOP = "shop." + os.environ["SHOP_SCHEMA"]
DSN = f"host=127.0.0.1 port={PORT} user=analyst dbname=fedsql"

BALANCES = [Decimal("12345678901234567890.0123456789"), Decimal("-0.0000000001")]
PAYMENTS_SUM = Decimal("100000000001000.1234")
TABLES = {("crm.public", "orgs"), ("crm.public", "members"), ("crm.public", "member_names"),
          ("history.api", "api_call_log"), (SHOP, "payments"), (SHOP, "done_payments")}


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def dbapi_checks(conn, name):
    """What every DB-API driver must see: session traffic, values, catalogs."""
    cur = conn.cursor()
    cur.execute("SET datestyle TO 'ISO'")
    cur.execute("SHOW client_encoding")
    eq(cur.fetchone()[0], "UTF8", f"{name} client_encoding")
    cur.execute("SELECT balance FROM crm.public.members ORDER BY member_id")
    eq([r[0] for r in cur.fetchall()], BALANCES, f"{name} exact numerics")
    cur.execute(f'SELECT sum(amount), count(*) FROM "{SHOP}".payments')
    eq(cur.fetchone(), (PAYMENTS_SUM, 3), f"{name} sum over MySQL, quoted tool-style name")
    cur.execute("SELECT m.name, o.org_name FROM crm.public.members m JOIN crm.public.orgs o "
                "ON o.org_code = m.org_code WHERE m.member_id = %s", (1,))
    eq(cur.fetchall(), [("Kim", "가나은행")], f"{name} parameters and join")
    cur.execute("SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 2.5::float8, true, 'x'::text, "
                "date '2024-02-29', timestamp '2024-02-29 12:34:56', interval '1 day 2 hours', "
                "make_array(1, 2, 3), make_array('a', 'b'), NULL::int4, NULL::numeric, NULL::text")
    eq(cur.fetchone(), (1, 2, 3, 1.5, 2.5, True, "x", datetime.date(2024, 2, 29),
                        datetime.datetime(2024, 2, 29, 12, 34, 56), datetime.timedelta(days=1, hours=2),
                        [1, 2, 3], ["a", "b"], None, None, None), f"{name} result types")
    # A source's jsonb, uuid and varchar(40) keep their types: each driver reads them
    # as it reads PostgreSQL's own (psycopg2 leaves uuid as text unless registered).
    cur.execute("SELECT profile, ext_id, name FROM crm.public.members ORDER BY member_id")
    uuid_value = "0b9f3c3e-8d5e-4f7a-9a51-2f4b7c8d9e10"
    if name == "psycopg":
        uuid_value = uuid.UUID(uuid_value)
    eq(cur.fetchall(), [({"vip": True}, uuid_value, "Kim"), (None, None, "Lee")], f"{name} jsonb, uuid, varchar")
    eq([d[1] for d in cur.description], [3802, 2950, 1043], f"{name} jsonb, uuid, varchar type OIDs")
    cur.execute("SELECT joined_at FROM crm.public.members WHERE member_id = 1")
    got = cur.fetchone()[0]
    eq(got, datetime.datetime(2024, 2, 29, 14, 30, tzinfo=datetime.timezone.utc), f"{name} timestamptz")
    cur.execute("SET TIME ZONE 'Asia/Seoul'")
    cur.execute("SELECT current_setting('TimeZone'), CAST(joined_at AS VARCHAR) FROM crm.public.members WHERE member_id = 1")
    eq(cur.fetchone(), ("Asia/Seoul", "2024-02-29T23:30:00+09:00"), f"{name} session time zone")
    cur.execute("RESET ALL")
    cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
    eq(set(cur.fetchall()), TABLES, f"{name} information_schema.tables")
    cur.execute("SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale FROM information_schema.columns "
                "WHERE table_schema = 'crm.public' AND table_name = 'members' ORDER BY ordinal_position")
    cols = cur.fetchall()
    eq(cols[0], ("member_id", "bigint", "int8", 64, 0), f"{name} columns: bigint")
    eq(cols[4], ("balance", "numeric", "numeric", 30, 10), f"{name} columns: numeric(30,10)")
    eq(cols[8], ("joined_at", "timestamp with time zone", "timestamptz", None, None), f"{name} columns: timestamptz")
    eq(cols[2], ("name", "character varying", "varchar", None, None), f"{name} columns: varchar")
    eq([c[:3] for c in cols[9:]], [("profile", "jsonb", "jsonb"), ("tags", "ARRAY", "_int4"), ("ext_id", "uuid", "uuid")],
       f"{name} columns: jsonb, int4[], uuid")
    for stmt in ["BEGIN", "SAVEPOINT s1", "ROLLBACK TO SAVEPOINT s1", "RELEASE SAVEPOINT s1", "COMMIT",
                 "DISCARD ALL", "SET extra_float_digits = 3", "SET application_name = 'pytest'"]:
        cur.execute(stmt)
    cur.execute("SHOW application_name")
    eq(cur.fetchone()[0], "pytest", f"{name} SET application_name")
    try:
        cur.execute("SET no_such_setting = 1")
        raise AssertionError(f"{name}: unknown setting accepted")
    except Exception as e:  # the driver's own error class
        eq(getattr(e, "pgcode", None) or getattr(e, "sqlstate", None), "42704", f"{name} unknown setting SQLSTATE")
    conn.rollback()
    cur.execute("SELECT 1")
    eq(cur.fetchone()[0], 1, f"{name} connection survives an error")
    conn.commit()


def redash_schema(conn, name):
    """Redash's PostgreSQL schema browser query (query_runner/pg.py)."""
    cur = conn.cursor()
    cur.execute("""
        SELECT s.nspname as table_schema, c.relname as table_name, a.attname as column_name, null as data_type
        FROM pg_class c
        JOIN pg_namespace s ON c.relnamespace = s.oid AND s.nspname NOT IN ('pg_catalog', 'information_schema')
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relkind IN ('m', 'f', 'p')
        UNION
        SELECT table_schema, table_name, column_name, data_type
        FROM information_schema.columns
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
        """)
    got = {}
    for schema, table, column, data_type in cur.fetchall():
        got.setdefault((schema, table), set()).add((column, data_type))
    eq(set(got), TABLES, f"{name} redash tables")
    eq(got[(SHOP, "payments")], {("id", "bigint"), ("member_id", "bigint"), ("amount", "numeric"),
        ("paid_at", "timestamp without time zone"), ("status", "character varying"), ("note", "text")}, f"{name} redash columns")


def redash_redshift_schema(conn, name):
    """Redash's Redshift schema query (query_runner/pg.py, class Redshift), verbatim."""
    cur = conn.cursor()
    cur.execute("""
        WITH tables AS (
            SELECT DISTINCT table_name,
                            table_schema,
                            column_name,
                            ordinal_position AS pos
            FROM svv_columns
            WHERE table_schema NOT IN ('pg_internal','pg_catalog','information_schema')
            AND table_schema NOT LIKE 'pg_temp_%'
        )
        SELECT table_name, table_schema, column_name
        FROM tables
        WHERE
            HAS_SCHEMA_PRIVILEGE(table_schema, 'USAGE') AND
            (
                table_schema IN (SELECT schemaname FROM SVV_EXTERNAL_SCHEMAS) OR
                HAS_TABLE_PRIVILEGE('"' || table_schema || '"."' || table_name || '"', 'SELECT')
            )
        ORDER BY table_name, pos
        """)
    got = {}
    for table, schema, column in cur.fetchall():
        got.setdefault((schema, table), []).append(column)
    eq(set(got), TABLES, f"{name} redash redshift tables")
    eq(got[(SHOP, "payments")], ["id", "member_id", "amount", "paid_at", "status", "note"], f"{name} redash redshift columns in order")


def psycopg2_test():
    import psycopg2
    conn = psycopg2.connect(DSN)
    if conn.server_version < 160000:
        raise AssertionError(f"psycopg2 server_version {conn.server_version}")
    dbapi_checks(conn, "psycopg2")
    # A cursor by SQL (psqlODBC's cursor mode): FETCH answers "FETCH n", with the columns
    # also once the rows are gone.
    cur = conn.cursor()
    cur.execute("DECLARE c CURSOR FOR SELECT member_id, name FROM crm.public.members ORDER BY member_id")
    eq(cur.statusmessage, "DECLARE CURSOR", "psycopg2 DECLARE tag")
    cur.execute("FETCH 1 FROM c")
    eq((cur.statusmessage, cur.fetchall()), ("FETCH 1", [(1, "Kim")]), "psycopg2 FETCH 1")
    cur.execute("FETCH FORWARD 5 FROM c")
    eq((cur.statusmessage, cur.fetchall()), ("FETCH 1", [(2, "Lee")]), "psycopg2 FETCH FORWARD 5")
    cur.execute("FETCH ALL FROM c")
    eq((cur.statusmessage, cur.fetchall(), [d.name for d in cur.description]), ("FETCH 0", [], ["member_id", "name"]),
       "psycopg2 FETCH past the end")
    cur.execute("CLOSE c")
    eq(cur.statusmessage, "CLOSE CURSOR", "psycopg2 CLOSE tag")
    conn.rollback()
    # SQL PREPARE/EXECUTE (simple protocol): arguments take the declared types.
    cur.execute("PREPARE by_orgs(text[], int) AS SELECT member_id FROM crm.public.members "
                "WHERE org_code = ANY($1) AND member_id >= $2 ORDER BY member_id")
    eq(cur.statusmessage, "PREPARE", "psycopg2 PREPARE tag")
    cur.execute("EXECUTE by_orgs('{\"BANK01\",CARD02}', 1)")
    eq(cur.fetchall(), [(1,), (2,)], "psycopg2 EXECUTE")
    cur.execute("EXECUTE by_orgs(ARRAY['CARD02'], 0)")
    eq(cur.fetchall(), [(2,)], "psycopg2 EXECUTE again, other arguments")
    for sql, code in [("EXECUTE by_orgs('{BANK01}')", "42601"), ("EXECUTE nope(1)", "26000"),
                      ("PREPARE by_orgs AS SELECT 1", "42P05"), ("PREPARE bad AS SELECT * FROM crm.public.nope", "42P01")]:
        try:
            cur.execute(sql)
            raise AssertionError(f"psycopg2 {sql}: no error")
        except psycopg2.Error as e:
            eq(e.pgcode, code, f"psycopg2 {sql}")
            conn.rollback()
    cur.execute("DEALLOCATE by_orgs")
    eq(cur.statusmessage, "DEALLOCATE", "psycopg2 DEALLOCATE tag")
    try:
        cur.execute("EXECUTE by_orgs('{BANK01}', 1)")
        raise AssertionError("psycopg2 EXECUTE after DEALLOCATE: no error")
    except psycopg2.Error as e:
        eq(e.pgcode, "26000", "psycopg2 EXECUTE after DEALLOCATE")
        conn.rollback()
    # search_path: a source schema made current resolves unqualified names.
    cur.execute('SET search_path TO "crm.public"')
    cur.execute("SELECT current_schema(), count(*) FROM orgs")
    eq(cur.fetchall(), [("crm.public", 2)], "psycopg2 search_path names a source schema")
    cur.execute("RESET search_path")
    cur.execute("SELECT current_schema()")
    eq(cur.fetchall(), [("public",)], "psycopg2 search_path reset")
    conn.rollback()
    # Client-side arrays: psycopg2 writes a list as ARRAY[...].
    cur.execute("SELECT member_id FROM crm.public.members WHERE org_code = ANY(%s)", (["CARD02"],))
    eq(cur.fetchall(), [(2,)], "psycopg2 = ANY(list)")
    conn.rollback()
    redash_schema(conn, "psycopg2")
    redash_redshift_schema(conn, "psycopg2")
    conn.close()


def psycopg3_test():
    import psycopg
    with psycopg.connect(DSN) as conn:
        eq(conn.info.server_version >= 160000, True, "psycopg server_version")
        dbapi_checks(conn, "psycopg")
        # Binary results: numerics and timestamps decoded from PostgreSQL's binary forms.
        cur = conn.cursor(binary=True)
        cur.execute("SELECT balance, joined_on FROM crm.public.members ORDER BY member_id")
        eq(cur.fetchall(), [(BALANCES[0], datetime.date(2024, 2, 29)), (BALANCES[1], None)], "psycopg binary")
        # A named (server-side) cursor, as SQLAlchemy's stream_results uses: DECLARE with a
        # parameter, the portal described, rows fetched in batches.
        with conn.transaction():
            with conn.cursor(name="balances") as named:
                named.itersize = 1
                named.execute("SELECT member_id, balance FROM crm.public.members WHERE member_id >= %s "
                              "ORDER BY member_id", (1,))
                eq([d.name for d in named.description], ["member_id", "balance"], "psycopg named cursor columns")
                eq(named.fetchmany(1), [(1, BALANCES[0])], "psycopg named cursor first batch")
                eq(named.fetchall(), [(2, BALANCES[1])], "psycopg named cursor rest")
        # Array parameters, typed by the driver (text[]) and in SQL PREPARE/EXECUTE over the
        # extended protocol.
        cur = conn.cursor()
        cur.execute("SELECT member_id FROM crm.public.members WHERE org_code = ANY(%s) ORDER BY 1", (["BANK01", "CARD02"],))
        eq(cur.fetchall(), [(1,), (2,)], "psycopg = ANY(text[] parameter)")
        cur.execute("SELECT member_id FROM crm.public.members WHERE member_id <> ALL(%s) ORDER BY 1", ([1],))
        eq(cur.fetchall(), [(2,)], "psycopg <> ALL(int[] parameter)")
        cur.execute("PREPARE one_member(bigint) AS SELECT name FROM crm.public.members WHERE member_id = $1")
        cur.execute("EXECUTE one_member(%s)", (2,))
        eq(cur.fetchall(), [("Lee",)], "psycopg EXECUTE with a bound argument")
        cur.execute("PREPARE counted AS SELECT count(*) FROM crm.public.members")
        cur.execute("EXECUTE counted")
        eq(([d.name for d in cur.description], cur.fetchall()), (["count"], [(2,)]), "psycopg EXECUTE result named as PostgreSQL names it")
        cur.execute("DEALLOCATE ALL")
        eq(cur.statusmessage, "DEALLOCATE ALL", "psycopg DEALLOCATE ALL tag")
        # Parameters keep every digit the client sent, in the type it sent them as, as in
        # PostgreSQL: a numeric is not rounded to the column's scale (numeric(30,10) here),
        # nor a float truncated into an integer column's type; psycopg writes large and
        # small Decimals with an exponent.
        for binary in (False, True):
            c = conn.cursor(binary=binary)
            c.execute("SELECT member_id FROM crm.public.members WHERE balance < %s ORDER BY 1", (Decimal("-0.00000000005"),))
            eq(c.fetchall(), [(2,)], f"psycopg numeric parameter past the column's scale (binary={binary})")
            c.execute("SELECT member_id FROM crm.public.members WHERE balance > %s ORDER BY 1", (Decimal("1E+19"),))
            eq(c.fetchall(), [(1,)], f"psycopg numeric parameter with an exponent (binary={binary})")
            c.execute("SELECT member_id FROM crm.public.members WHERE member_id < %s ORDER BY 1", (1.5,))
            eq(c.fetchall(), [(1,)], f"psycopg float parameter against a bigint column (binary={binary})")
            c.execute("SELECT score * %s FROM crm.public.members WHERE member_id = 1", (Decimal("0.333"),))
            eq(c.fetchall(), [(Decimal("3.330"),)], f"psycopg numeric parameter times an integer (binary={binary})")
            # A typed parameter after an untyped one (psycopg sends str untyped) keeps its type.
            c.execute("SELECT %s AS s, %s AS d, %s AS t", ("x", datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 23, 30)))
            eq(c.fetchall(), [("x", datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 23, 30))], f"psycopg typed parameters after a str (binary={binary})")
        # Prepared statements past psycopg's cache are closed with `DEALLOCATE _pg3_N` when
        # its libpq is older than 17 (Debian 12's is 15), as SQL on protocol statements.
        import psycopg._connection_base as base
        has_close, base._HAS_SEND_CLOSE = base._HAS_SEND_CLOSE, False
        try:
            conn.prepared_max = 2
            for n in range(1, 6):
                cur.execute(f"SELECT count(*) + {n} FROM crm.public.members", prepare=True)
                eq(cur.fetchall(), [(2 + n,)], f"psycopg prepared statement {n} of 5, two kept")
        finally:
            base._HAS_SEND_CLOSE = has_close


def sqlalchemy_test(url, name):
    import sqlalchemy as sa
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        eq(conn.dialect.server_version_info[:1], (16,), f"{name} version parsed")
        eq(conn.execute(sa.text("select current_schema()")).scalar(), "public", f"{name} current_schema")
        rows = conn.execute(sa.text('SELECT org_code, tier FROM "crm.public".orgs ORDER BY org_code')).all()
        eq([tuple(r) for r in rows], [("BANK01", 1), ("CARD02", 2)], f"{name} rows")
        # Server-side cursors.
        streamed = conn.execution_options(stream_results=True, max_row_buffer=1).execute(
            sa.text("SELECT member_id FROM crm.public.members ORDER BY member_id"))
        eq([r[0] for r in streamed], [1, 2], f"{name} stream_results")
    insp = sa.inspect(engine)
    schemas = insp.get_schema_names()
    for s in ("crm.public", "history.api", SHOP):
        if s not in schemas:
            raise AssertionError(f"{name} get_schema_names: {s} missing from {schemas}")
    eq(sorted(insp.get_table_names(schema="crm.public")), ["members", "orgs"], f"{name} get_table_names")
    # Without a schema: the visible tables, each name once (every source schema is on the
    # default path), or the current schema's once search_path names a source schema
    # (libpq's options, as PostgreSQL reads them).
    eq((sorted(insp.get_table_names()), sorted(insp.get_view_names())),
       (["api_call_log", "members", "orgs", "payments"], ["done_payments", "member_names"]),
       f"{name} get_table_names() on the default path")
    pathed = sa.create_engine(url, connect_args={"options": "-c search_path=crm.public"})
    pinsp = sa.inspect(pathed)
    eq((pinsp.default_schema_name, sorted(pinsp.get_table_names()), pinsp.get_view_names()),
       ("crm.public", ["members", "orgs"], ["member_names"]), f"{name} get_table_names() on a search_path")
    eq([c["name"] for c in pinsp.get_columns("orgs")], ["org_code", "org_name", "tier"], f"{name} get_columns() on a search_path")
    pathed.dispose()
    eq(insp.get_view_names(schema="crm.public"), ["member_names"], f"{name} get_view_names")
    eq(insp.get_view_names(schema=SHOP), ["done_payments"], f"{name} get_view_names on MySQL")
    eq(" ".join(insp.get_view_definition("member_names", schema="crm.public").split()),
       "SELECT members.member_id, members.name FROM members;", f"{name} get_view_definition (PostgreSQL's text)")
    # Comments the sources keep (PostgreSQL COMMENT ON, MySQL COMMENT '...').
    eq(insp.get_table_comment("orgs", schema="crm.public"), {"text": "Partner organisations"}, f"{name} table comment")
    eq(insp.get_table_comment("payments", schema=SHOP), {"text": "Card payments"}, f"{name} MySQL table comment")
    eq(insp.get_table_comment("members", schema="crm.public"), {"text": None}, f"{name} no table comment")
    reflected = insp.get_columns("members", schema="crm.public")
    cols = [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in reflected]
    eq(cols[:5], [("member_id", "BIGINT", False, None), ("org_code", "TEXT", False, None), ("name", "VARCHAR(40)", False, None),
                  ("score", "INTEGER", True, None), ("balance", "NUMERIC(30, 10)", True, None)], f"{name} get_columns")
    eq((cols[8][:2], reflected[8]["type"].timezone), (("joined_at", "TIMESTAMP"), True), f"{name} get_columns timestamptz")
    eq([c[:2] for c in cols[9:]], [("profile", "JSONB"), ("tags", "ARRAY"), ("ext_id", "UUID")], f"{name} get_columns jsonb, uuid")
    eq({c["name"]: c["comment"] for c in reflected if c.get("comment")},
       {"name": "회원 이름", "balance": "Balance in KRW, exact"}, f"{name} column comments")
    comments = {c["name"]: c.get("comment") for c in insp.get_columns("payments", schema=SHOP)}
    eq(comments["amount"], "결제 금액 (KRW)", f"{name} MySQL column comment")
    nullable = {c["name"]: c["nullable"] for c in insp.get_columns("payments", schema=SHOP)}
    eq(nullable, {"id": False, "member_id": False, "amount": False, "paid_at": False, "status": False, "note": True},
       f"{name} get_columns NOT NULL on MySQL")
    pk = insp.get_pk_constraint("members", schema="crm.public")
    eq((pk["name"], pk["constrained_columns"]), ("members_pkey", ["member_id"]), f"{name} get_pk_constraint")
    pk = insp.get_pk_constraint("payments", schema=SHOP)
    eq((pk["name"], pk["constrained_columns"]), ("payments_pkey", ["id"]), f"{name} get_pk_constraint on MySQL")
    fks = insp.get_foreign_keys("members", schema="crm.public")
    eq([(f["constrained_columns"], f["referred_schema"], f["referred_table"], f["referred_columns"]) for f in fks],
       [(["org_code"], "crm.public", "orgs", ["org_code"])], f"{name} get_foreign_keys")
    eq(insp.get_indexes("members", schema="crm.public"), [], f"{name} get_indexes (the primary key's is not listed)")
    # Superset's table preview reflects the whole table.
    table = sa.Table("payments", sa.MetaData(), schema=SHOP, autoload_with=engine)
    eq([c.name for c in table.primary_key], ["id"], f"{name} Table autoload primary key")
    eq(str(table.c.amount.type), "NUMERIC(20, 4)", f"{name} Table autoload numeric (MySQL DECIMAL(20,4))")
    with engine.connect() as conn:
        total = conn.execute(sa.text(f'SELECT sum(amount) FROM "{SHOP}".payments')).scalar()
        eq(total, PAYMENTS_SUM, f"{name} decimal sum")
    engine.dispose()


async def asyncpg_main():
    import asyncpg
    conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="analyst", database="fedsql")
    eq(conn.get_server_version().major, 16, "asyncpg version")
    rows = await conn.fetch("SELECT member_id, balance, joined_at, active FROM crm.public.members ORDER BY member_id")
    eq([r["balance"] for r in rows], BALANCES, "asyncpg binary numerics")
    eq(rows[0]["joined_at"], datetime.datetime(2024, 2, 29, 14, 30, tzinfo=datetime.timezone.utc), "asyncpg timestamptz")
    eq(rows[1]["active"], False, "asyncpg bool")
    row = await conn.fetchrow("SELECT profile, ext_id, name FROM crm.public.members WHERE member_id = 1")
    eq(tuple(row), ('{"vip": true}', uuid.UUID("0b9f3c3e-8d5e-4f7a-9a51-2f4b7c8d9e10"), "Kim"), "asyncpg jsonb, uuid (binary)")
    got = await conn.fetchval("SELECT name FROM crm.public.members WHERE member_id = $1", 2)
    eq(got, "Lee", "asyncpg parameter")
    # An untyped array parameter: asyncpg encodes by the type the server describes, as
    # PostgreSQL does (text[] for `org_code = any($1)`, int8[] for a bigint column).
    stmt = await conn.prepare("SELECT member_id FROM crm.public.members WHERE org_code = any($1) ORDER BY member_id")
    eq([(t.name, t.oid) for t in stmt.get_parameters()], [("text[]", 1009)], "asyncpg = any($1) described as text[]")
    eq([r[0] for r in await stmt.fetch(["BANK01", "CARD02"])], [1, 2], "asyncpg = any($1)")
    eq(await conn.fetchval("SELECT name FROM crm.public.members WHERE member_id = any($1)", [2, 5]), "Lee",
       "asyncpg = any($1) of bigints")
    eq(await conn.fetchval("SELECT count(*) FROM crm.public.members WHERE member_id > any($1)", [1]), 1,
       "asyncpg > any($1)")
    # text[] is built into asyncpg; other array types go through its type introspection.
    eq(await conn.fetchval("SELECT make_array('a', 'b')"), ["a", "b"], "asyncpg text[]")
    eq([r["tags"] for r in await conn.fetch("SELECT tags FROM crm.public.members ORDER BY member_id")], [[3, 1, 2], None],
       "asyncpg int4[] from PostgreSQL")
    eq(await conn.fetchval("SELECT make_array(1, 2, 3)"), [1, 2, 3], "asyncpg int8[]")
    eq(await conn.fetchval("SELECT make_array(true, false)"), [True, False], "asyncpg bool[]")
    eq(await conn.fetchval("SELECT make_array(CAST(12345678901234567890.0123456789 AS NUMERIC(30, 10)))"),
       [BALANCES[0]], "asyncpg numeric[] exact")
    # The pool's reset query.
    await conn.execute("SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;")
    pool = await asyncpg.create_pool(host="127.0.0.1", port=PORT, user="analyst", database="fedsql", min_size=1, max_size=2)
    async with pool.acquire() as c:
        eq(await c.fetchval('SELECT count(*) FROM "crm.public".orgs'), 2, "asyncpg pool")
    async with pool.acquire() as c:
        eq(await c.fetchval("SELECT sum(amount) FROM " + f'"{SHOP}".payments'), PAYMENTS_SUM, "asyncpg pool reuse")
    await pool.close()
    await conn.close()


def main():
    tests = [
        ("psycopg2", psycopg2_test),
        ("psycopg", psycopg3_test),
        ("sqlalchemy+psycopg2", lambda: sqlalchemy_test(f"postgresql+psycopg2://analyst@127.0.0.1:{PORT}/fedsql", "sqlalchemy+psycopg2")),
        ("sqlalchemy+psycopg", lambda: sqlalchemy_test(f"postgresql+psycopg://analyst@127.0.0.1:{PORT}/fedsql", "sqlalchemy+psycopg")),
        ("asyncpg", lambda: asyncio.run(asyncpg_main())),
        ("metabase sync", lambda: metabase_sync(DSN, SHOP)),
    ]
    only = sys.argv[1:]
    failed = []
    for name, test in tests:
        if only and name not in only:
            continue
        try:
            test()
            print(f"client ok: {name}")
        except Exception as e:  # report every client, then fail
            import traceback
            traceback.print_exc()
            print(f"client FAILED: {name}: {e}")
            failed.append(name)
    if failed:
        sys.exit(f"clients failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
