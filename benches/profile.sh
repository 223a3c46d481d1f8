#!/usr/bin/env bash
# Where fedsql's time goes in B1, B3 and B4: perf samples of the release server while one
# workload runs against the full-scale Parquet data (run `scripts/bench --scale full` once
# first; the queries are B1's, B3's and B4's). Prints the hottest symbols per workload; BENCHMARKS.md quotes them.
#   benches/profile.sh [B1|B3|B4 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$HOME/.cache/fedsql-target}
data=${FEDSQL_BENCH_DIR:-$HOME/.cache/fedsql-bench}/data/full-v1/pq
bin=$target/release/fedsql
[ -x "$bin" ] && [ -d "$data" ] || { echo "needs $bin and $data: run scripts/bench --scale full" >&2; exit 1; }
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/catalogs"
printf 'connector = "parquet"\nlocation = "%s/"\n' "$data" > "$work/catalogs/pq.toml"
port=55433
"$bin" serve --catalogs "$work/catalogs" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do psql -h 127.0.0.1 -p $port -U bench -d fedsql -Atc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done

psql_run() { psql -h 127.0.0.1 -p $port -U bench -d fedsql -At "$@" >/dev/null; }
profile() {
  local name=$1; shift
  perf record -F 499 -g -o "$work/$name.data" -p "$pid" -- "$@" >/dev/null 2>&1 || true
  echo "== $name: hottest symbols (self time)"
  perf report -i "$work/$name.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -15
}

for w in "${@:-B1 B3 B4}"; do
  for one in $w; do
    case $one in
      B1) profile B1 bash -c "for i in 1 2 3 4 5; do psql -h 127.0.0.1 -p $port -U bench -d fedsql -At -c \"SELECT CAST(request_at AS DATE), org_code, api_code, count(*), avg(duration_ms), stddev(duration_ms), sum(duration_ms), sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END) FROM pq.bench.api_call_log WHERE request_at >= TIMESTAMP '2026-10-01' AND request_at < TIMESTAMP '2026-11-01' GROUP BY 1, 2, 3\" >/dev/null; done" ;;
      B3) printf '\\set id random(1, 1000000)\nSELECT member_id, total_amount, trade_count, last_trade_date FROM pq.bench.member_totals WHERE member_id = :id;\n' > "$work/lookup.sql"
          profile B3 pgbench -h 127.0.0.1 -p $port -U bench -M prepared -c 16 -j 2 -T 15 -n -f "$work/lookup.sql" fedsql ;;
      B4) profile B4 psql -h 127.0.0.1 -p $port -U bench -d fedsql -c "COPY (SELECT id, request_at, org_code, duration_ms FROM pq.bench.api_call_log) TO STDOUT" -o /dev/null ;;
    esac
  done
done
