"""fedsql against its baselines, side by side: `scripts/bench [--scale small|full]` (see BENCHMARKS.md)."""
import argparse
import dataclasses
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import connectorx
import duckdb

from . import b1_stats, b2_pull, b3_serving, b4_stream, b5_tpch, b6_load, b7_snapshot, data, report
from .common import ROOT, SCALES, Fedsql, Measurement, catalog_toml, log

WORKLOADS = {"B1": b1_stats, "B2": b2_pull, "B3": b3_serving, "B4": b4_stream, "B5": b5_tpch, "B6": b6_load, "B7": b7_snapshot}


class Context:
    """What every workload needs: the scale, the data, where it was loaded, and fedsql servers."""

    def __init__(self, scale, dataset, mysql_db, pg_db, bucket, workdir):
        self.scale, self.dataset = scale, dataset
        self.mysql_db, self.pg_db, self.bucket, self.workdir = mysql_db, pg_db, bucket, workdir

    def fedsql(self, catalogs, args=()):
        return Fedsql(self.workdir, catalogs, args)

    def parquet_catalog(self):
        return catalog_toml("parquet", location=self.dataset.pq.as_uri() + "/")

    def s3_catalog(self):
        return catalog_toml("parquet", location=f"s3://{self.bucket}/pq/",
                            s3=dict(endpoint=data.S3_ENDPOINT, region="us-east-1", access_key_id="bench",
                                    secret_access_key="bench", allow_http=True))

    def mysql_catalog(self, user="root"):
        return catalog_toml("mysql", url=f"mysql://{user}@127.0.0.1:3306/{self.mysql_db}", sslmode="disable")

    def postgres_catalog(self):
        return catalog_toml("postgres", host="127.0.0.1", port=5432, user="postgres", database=self.pg_db,
                            sslmode="disable")


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return f"{os.cpu_count()} × {cpu}, {mem / 2**20:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    ap.add_argument("--scale", choices=SCALES, default="small")
    ap.add_argument("--only", help="comma-separated workloads, e.g. B1,B3")
    ap.add_argument("--runs", type=int, help="timed runs per contender (default: the scale's, 5)")
    ap.add_argument("--keep-data", action="store_true",
                    help="load into databases named fedsql_bench_<scale> and keep them for the next run")
    ap.add_argument("--release", action="store_true", help=argparse.SUPPRESS)  # read by scripts/bench
    ap.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    scale = SCALES[args.scale]
    if args.runs:
        if args.runs < 5 and scale.name == "full":
            ap.error("a full-scale measurement takes medians over at least 5 runs")
        scale = dataclasses.replace(scale, runs=args.runs)
    chosen = args.only.upper().split(",") if args.only else list(WORKLOADS)
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload {', '.join(unknown)} (choose from {', '.join(WORKLOADS)})")

    ds = data.Dataset(scale)
    ds.generate()
    suffix = "" if args.keep_data else "_" + uuid.uuid4().hex[:8]
    mysql_db = pg_db = f"fedsql_bench_{scale.name}{suffix}"
    bucket = f"fedsql-bench-{uuid.uuid4().hex[:8]}"
    measurements = []
    with tempfile.TemporaryDirectory(prefix="fedsql-bench-") as tmp:
        try:
            data.load_mysql(ds, mysql_db)
            data.load_postgres(ds, pg_db)
            if "B1" in chosen:
                data.upload_s3(ds, bucket, [("bench", "api_call_log")])
            ctx = Context(scale, ds, mysql_db, pg_db, bucket, Path(tmp))
            for w in chosen:
                log(f"--- {w}: {WORKLOADS[w].__doc__.strip().splitlines()[0]}")
                try:
                    measurements += WORKLOADS[w].run(ctx)
                except Exception as e:  # one broken workload is reported; the others still run
                    log(f"{w} failed: {type(e).__name__}: {e}")
                    measurements.append(Measurement(w, "fedsql", [], fedsql=True,
                                                     error=f"{type(e).__name__}: {str(e)[:400]}"))
        finally:
            if not args.keep_data:
                data.drop_databases(mysql_db, pg_db)
            data.drop_bucket(bucket)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    meta = dict(scale=scale.name, runs=scale.runs, date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                commit=commit, build=os.environ.get("FEDSQL_BUILD", "release"), machine=machine(),
                mariadb=data.mysql_version(), postgresql=data.pg_version(), duckdb=duckdb.__version__,
                connectorx=connectorx.__version__, api_rows=scale.api_rows, tpch_sf=scale.tpch_sf,
                members=scale.members, parquet_bytes=data.sizes(ds))
    print(report.write(ROOT / "benches" / "results", meta, measurements))
    known = [f"{m.workload}" for m in measurements if m.error and "known_failure" in m.extra]
    if known:
        log(f"known failures, reported above: {', '.join(known)}")
    wrong = [f"{m.workload} {m.system}" for m in measurements if m.error and "known_failure" not in m.extra]
    if wrong:
        log(f"FAILED: {len(wrong)} unexpected failures or wrong answers: "
            f"{'; '.join(wrong)}")
        sys.exit(1)
    log(f"no unexpected failures ({len(measurements)} measurements, {len(known)} known failures)")


if __name__ == "__main__":
    main()
