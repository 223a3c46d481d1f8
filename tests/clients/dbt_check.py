"""dbt-postgres against a running fedsql: `dbt debug`, `dbt test` over source tables (a
PostgreSQL source and a MySQL one), `dbt source freshness` and `dbt docs generate`, each
checked in the artifacts dbt writes (run_results.json, sources.json, catalog.json).

Run by tests/clients.rs with FEDSQL_PORT and SHOP_SCHEMA set; argv[1] is the dbt
executable. The project is tests/clients/dbt; dbt writes into a temporary directory.
"""
import json
import os
import subprocess
import sys
import tempfile

PROJECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dbt")


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def dbt(exe, target, *args, ok=True):
    # dbt reads log-path before it renders env_var() in dbt_project.yml: logs go to the
    # run's own folder through the environment instead.
    env = dict(os.environ, DBT_TARGET_PATH=target, DBT_LOG_PATH=os.path.join(target, "logs"),
               DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_PROFILES_DIR=PROJECT)
    out = subprocess.run([exe, *args, "--project-dir", PROJECT, "--no-use-colors"], env=env,
                         capture_output=True, text=True, timeout=300)
    if (out.returncode == 0) != ok:
        raise AssertionError(f"dbt {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def artifact(target, name):
    with open(os.path.join(target, name)) as f:
        return json.load(f)


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory() as target:
        out = dbt(exe, target, "debug")
        eq("All checks passed!" in out, True, "dbt debug")
        print("client ok: dbt debug")

        # One test is meant to fail (member 2 has no score): dbt exits 1.
        dbt(exe, target, "test", ok=False)
        results = {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in artifact(target, "run_results.json")["results"]}
        want = {name: ("pass", 0) for name in [
            "source_unique_crm_orgs_org_code", "source_not_null_crm_orgs_org_code",
            "source_accepted_values_crm_orgs_tier__False__1__2", "source_unique_crm_members_member_id",
            "source_not_null_crm_members_member_id", "source_relationships_crm_members_org_code__org_code__source_crm_orgs_",
            "source_unique_shop_payments_id", "source_not_null_shop_payments_id"]}
        want["source_not_null_crm_members_score"] = ("fail", 1)
        eq(results, want, "dbt test results")
        print("client ok: dbt test")

        dbt(exe, target, "source", "freshness")
        fresh = {r["unique_id"]: (r["status"], r["max_loaded_at"][:19]) for r in artifact(target, "sources.json")["results"]}
        eq(fresh, {"source.fedsql_check.crm.members": ("pass", "2024-02-29T14:30:00"),
                   "source.fedsql_check.shop.payments": ("pass", "2026-11-03T11:00:00")}, "dbt source freshness")
        print("client ok: dbt source freshness")

        dbt(exe, target, "docs", "generate")
        catalog = artifact(target, "catalog.json")
        orgs = catalog["sources"]["source.fedsql_check.crm.orgs"]
        eq((orgs["metadata"]["schema"], orgs["metadata"]["type"], orgs["metadata"]["comment"]),
           ("crm.public", "BASE TABLE", "Partner organisations"), "dbt docs generate: orgs")
        eq({c: (v["type"], v["index"]) for c, v in orgs["columns"].items()},
           {"org_code": ("text", 1), "org_name": ("text", 2), "tier": ("smallint", 3)}, "dbt docs generate: orgs columns")
        payments = catalog["sources"]["source.fedsql_check.shop.payments"]
        eq(payments["columns"]["amount"]["type"], "numeric(20,4)", "dbt docs generate: MySQL decimal")
        print("client ok: dbt docs generate")


if __name__ == "__main__":
    main()
