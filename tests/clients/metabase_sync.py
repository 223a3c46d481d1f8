"""Metabase's PostgreSQL sync, replayed: the hand-written catalog queries Metabase 0.62
sends (metabase/driver/postgres.clj, captured from a real sync), with its bind values,
over psycopg 3's extended protocol as pgjdbc would. Each answer is checked.
"""

PRIVILEGES = """with table_privileges as (
 select
   NULL as role,
   t.schemaname as schema,
   t.objectname as table,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
   pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
 from (
   select schemaname, tablename as objectname from pg_catalog.pg_tables
   union
   select schemaname, viewname as objectname from pg_catalog.pg_views
   union
   select schemaname, matviewname as objectname from pg_catalog.pg_matviews
 ) t
 where t.schemaname !~ '^pg_'
   and t.schemaname <> 'information_schema'
   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
)
select t.*
from table_privileges t"""

TABLES = """SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", NULLIF("stat"."n_live_tup", %s) AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = %s) AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ %s) AND ("n"."nspname" <> %s) AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN (%s, %s)) ORDER BY "type" ASC, "schema" ASC, "name" ASC"""

ENUMS = """SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)"""

FIELDS = """SELECT "c"."column_name" AS "name", CASE WHEN "c"."udt_schema" IN ('public', 'pg_catalog') THEN FORMAT('%%s', "c"."udt_name") ELSE FORMAT('"%%s"."%%s"', "c"."udt_schema", "c"."udt_name") END AS "database-type", "c"."ordinal_position" - 1 AS "database-position", "c"."table_schema" AS "table-schema", "c"."table_name" AS "table-name", "pk"."column_name" IS NOT NULL AS "pk?", COL_DESCRIPTION(CAST(CAST(FORMAT('%%I.%%I', CAST("c"."table_schema" AS TEXT), CAST("c"."table_name" AS TEXT)) AS REGCLASS) AS OID), "c"."ordinal_position") AS "field-comment", (("column_default" IS NULL) OR (LOWER("column_default") = 'null')) AND ("is_nullable" = 'NO') AND NOT ((("column_default" IS NOT NULL) AND ("column_default" LIKE '%%nextval(%%')) OR ("is_identity" <> 'NO')) AS "database-required", "column_default" AS "database-default", (("column_default" IS NOT NULL) AND ("column_default" LIKE '%%nextval(%%')) OR ("is_identity" <> 'NO') AS "database-is-auto-increment", "is_generated" = %s AS "database-is-generated", "is_nullable" = 'YES' AS "database-is-nullable" FROM "information_schema"."columns" AS "c" LEFT JOIN (SELECT "tc"."table_schema", "tc"."table_name", "kc"."column_name" FROM "information_schema"."table_constraints" AS "tc" INNER JOIN "information_schema"."key_column_usage" AS "kc" ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema") AND ("tc"."table_name" = "kc"."table_name") WHERE "tc"."constraint_type" = 'PRIMARY KEY') AS "pk" ON ("c"."table_schema" = "pk"."table_schema") AND ("c"."table_name" = "pk"."table_name") AND ("c"."column_name" = "pk"."column_name") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND ("c"."table_schema" IN (%s, %s)) ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC"""

FKS = """SELECT "fk_ns"."nspname" AS "fk-table-schema", "fk_table"."relname" AS "fk-table-name", "fk_column"."attname" AS "fk-column-name", "pk_ns"."nspname" AS "pk-table-schema", "pk_table"."relname" AS "pk-table-name", "pk_column"."attname" AS "pk-column-name" FROM "pg_constraint" AS "c" INNER JOIN "pg_class" AS "fk_table" ON "c"."conrelid" = "fk_table"."oid" INNER JOIN "pg_namespace" AS "fk_ns" ON "c"."connamespace" = "fk_ns"."oid" INNER JOIN "pg_attribute" AS "fk_column" ON "c"."conrelid" = "fk_column"."attrelid" INNER JOIN "pg_class" AS "pk_table" ON "c"."confrelid" = "pk_table"."oid" INNER JOIN "pg_namespace" AS "pk_ns" ON "pk_table"."relnamespace" = "pk_ns"."oid" INNER JOIN "pg_attribute" AS "pk_column" ON "c"."confrelid" = "pk_column"."attrelid" WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND ("c"."contype" = 'f'::char) AND ("fk_column"."attnum" = ANY(c.conkey)) AND ("pk_column"."attnum" = ANY(c.confkey)) AND ("fk_ns"."nspname" IN (%s, %s)) ORDER BY "fk-table-schema" ASC, "fk-table-name" ASC"""


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"metabase {what}: got {got!r}, want {want!r}")


def metabase_sync(dsn, shop):
    import psycopg
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        # Connection setup Metabase and pgjdbc send.
        for stmt in ["SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
                     "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"]:
            cur.execute(stmt)
            eq(cur.statusmessage, "SET", stmt)
        cur.execute("show timezone;")
        eq(cur.fetchone(), ("UTC",), "show timezone")

        cur.execute(PRIVILEGES)
        privileges = {(r[1], r[2]): r[3:] for r in cur.fetchall()}
        # Readable, not writable: fedsql never writes to a read-only source.
        eq(privileges[("crm.public", "orgs")], (False, True, False, False), "privileges of crm.public.orgs")
        eq(privileges[(shop, "payments")], (False, True, False, False), "privileges of a MySQL table")

        cur.execute(TABLES, (0, 0, "^pg_", "information_schema", "crm.public", shop))
        tables = {(r[0], r[1]): (r[2], r[3]) for r in cur.fetchall()}
        eq(tables, {("crm.public", "orgs"): ("TABLE", "Partner organisations"), ("crm.public", "members"): ("TABLE", None),
                    (shop, "payments"): ("TABLE", "Card payments"), ("crm.public", "member_names"): ("VIEW", None),
                    (shop, "done_payments"): ("VIEW", None)}, "tables, views and their descriptions")
        eq(privileges[("crm.public", "member_names")], (False, True, False, False), "privileges of a view")

        cur.execute(ENUMS)
        eq(cur.fetchall(), [], "enums")

        cur.execute(FIELDS, ("ALWAYS", "crm.public", shop))
        fields = {(r[3], r[4], r[0]): r for r in cur.fetchall()}
        member_id = fields[("crm.public", "members", "member_id")]
        eq((member_id[1], member_id[2], member_id[5]), ("int8", 0, True), "members.member_id type, position, pk")
        eq(fields[("crm.public", "members", "org_code")][5], False, "members.org_code is not a pk")
        eq(fields[("crm.public", "orgs", "org_code")][5], True, "orgs.org_code pk")
        eq(fields[(shop, "payments", "id")][5], True, "MySQL payments.id pk")
        eq(fields[(shop, "payments", "amount")][1], "numeric", "MySQL DECIMAL type")
        eq([fields[("crm.public", "members", c)][1] for c in ("name", "profile", "ext_id")], ["varchar", "jsonb", "uuid"],
           "declared types (Metabase maps jsonb to JSON, uuid to UUID)")
        eq(fields[(shop, "payments", "status")][1], "varchar", "MySQL VARCHAR type")
        comments = {k: r[6] for k, r in fields.items() if r[6] is not None}
        eq(comments, {("crm.public", "members", "name"): "회원 이름", ("crm.public", "members", "balance"): "Balance in KRW, exact",
                      (shop, "payments", "amount"): "결제 금액 (KRW)", (shop, "done_payments", "amount"): "결제 금액 (KRW)"},
           "field comments")
        pks = sorted(k for k, r in fields.items() if r[5])
        eq(pks, [("crm.public", "members", "member_id"), ("crm.public", "orgs", "org_code"), (shop, "payments", "id")],
           "every primary key column")

        cur.execute(FKS, ("crm.public", shop))
        eq(cur.fetchall(), [("crm.public", "members", "org_code", "crm.public", "orgs", "org_code")], "foreign keys")
