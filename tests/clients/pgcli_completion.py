"""pgcli's completion refresher against a running fedsql: every refresher query runs
(pgcli gave up on the first failing one, so there was no completion at all), and schema,
table, column, type and function completion offer what PostgreSQL's would.

Run by tests/clients.rs with FEDSQL_PORT and SHOP_SCHEMA set.
"""
import os

from pgcli.completion_refresher import CompletionRefresher
from pgcli.pgexecute import PGExecute
from pgspecial.main import PGSpecial
from prompt_toolkit.document import Document

PORT = int(os.environ["FEDSQL_PORT"])
SHOP = "shop." + os.environ["SHOP_SCHEMA"]


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


executor = PGExecute(database="fedsql", user="analyst", password="", host="127.0.0.1", port=PORT, dsn="")
refreshed = []
# Run in the foreground what pgcli's background thread runs at start, with its defaults.
CompletionRefresher()._bg_refresh(executor, PGSpecial(), refreshed.append, settings={"single_connection": True})
eq(len(refreshed), 1, "the refresher finished")
completer = refreshed[0]
meta = completer.dbmetadata

tables = meta["tables"]
# pgcli keeps names as it will write them: a schema with a dot is quoted.
CRM, SHOP = '"crm.public"', f'"{SHOP}"'
eq(sorted(t for t in tables.get(CRM, {})), ["members", "orgs"], "crm.public tables")
eq(sorted(t for t in tables.get(SHOP, {})), ["payments"], "MySQL tables")
eq("member_names" in meta["views"].get(CRM, {}), True, "views")
columns = tables[CRM]["members"]
eq("member_id" in columns, True, f"members columns {list(columns)}")
eq(columns["member_id"].datatype, "bigint", "a column's type by name (atttypid::regtype::text)")

functions = meta["functions"].get("pg_catalog", {})
# Names pgcli also knows as built-ins are kept quoted.
lower = functions['"lower"'][0]
eq(lower.return_type, "text", "prorettype::regtype::text")
eq(list(lower.arg_types), ["text"], "COALESCE(proallargtypes::regtype[], proargtypes::regtype[])::text[]")


def offered(text, cursor=None):
    document = Document(text=text, cursor_position=len(text) if cursor is None else cursor)
    return {c.text for c in completer.get_completions(document, None)}


schemas = offered("SELECT * FROM ")
eq('"crm.public"' in schemas, True, f"schemas offered after FROM: {sorted(schemas)[:12]}")
eq({"members", "orgs"} <= offered('SELECT * FROM "crm.public".'), True, "tables offered in a schema")
eq("member_id" in offered('SELECT mem FROM "crm.public".members', cursor=10), True, "columns offered")
print("pgcli completion refresher: ok")
