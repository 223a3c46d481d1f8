#!/usr/bin/env bash
# B3 side by side in one run (BENCHMARKS.md "B3 with kept plans"): one release fedsql, sessions alternating between kept plans
# (default) and plan_cache_mode=force_custom_plan (every Execute planned whole, as before).
set -euo pipefail
bin=${BIN:-$HOME/.cache/fedsql-target/release/fedsql}
work=$(mktemp -d); rm -rf $work; mkdir -p $work/cat $work/pq/lake/member_totals
db=fedsql_b3
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -h 127.0.0.1 -U postgres -d $db -qc "CREATE TABLE member_totals (member_id bigint PRIMARY KEY, total_amount numeric(18,2), trade_count int, last_trade_date date);
INSERT INTO member_totals SELECT g, (g * 37 % 100000) / 100.0, g % 500, DATE '2024-01-01' + (g % 300) FROM generate_series(1, 200000) g; ANALYZE member_totals;" >/dev/null
printf 'connector = "postgres"\nhost = "127.0.0.1"\nport = 5432\nuser = "postgres"\ndatabase = "%s"\nsslmode = "disable"\nmax_connections = 16\n' $db > $work/cat/crm.toml
"$bin" query --catalogs $work/cat "SELECT * FROM crm.public.member_totals ORDER BY member_id" --format parquet --output $work/pq/lake/member_totals/data.parquet >/dev/null
printf 'connector = "parquet"\nlocation = "file://%s/pq/"\n' $work > $work/cat/files.toml
port=55460
"$bin" serve --catalogs $work/cat --listen 127.0.0.1:$port > $work/server.log 2>&1 &
pid=$!; trap 'kill $pid 2>/dev/null || true; rm -rf $work' EXIT
for _ in $(seq 50); do psql -h 127.0.0.1 -p $port -U bench -d fedsql -Atc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
printf 'SELECT 1;\n' > $work/one.sql
printf '\\set id random(1, 200000)\nSELECT member_id, total_amount, trade_count, last_trade_date FROM crm.public.member_totals WHERE member_id = :id;\n' > $work/pg.sql
printf '\\set id random(1, 200000)\nSELECT member_id, total_amount, trade_count, last_trade_date FROM files.lake.member_totals WHERE member_id = :id;\n' > $work/pq.sql
printf '\\set id random(1, 200000)\nSELECT member_id, total_amount, trade_count, last_trade_date FROM member_totals WHERE member_id = :id;\n' > $work/native.sql
tps() { grep -o 'tps = [0-9.]*' | head -1 | awk '{print $3}'; }
lat() { grep -o 'latency average = [0-9.]* ms' | awk '{print $4}'; }
run() { # mode workload
  local opts=""; [ "$1" = whole ] && opts="-c plan_cache_mode=force_custom_plan"
  PGOPTIONS="$opts" pgbench -h 127.0.0.1 -p $port -U bench -M prepared -c 16 -j 2 -T ${SECS:-6} -n -f $work/$2.sql fedsql 2>&1
}
echo "workload mode round tps latency_ms"
for round in 1 2 3; do
  for w in one pg pq; do
    for mode in whole kept; do
      out=$(run $mode $w); echo "$w $mode $round $(echo "$out" | tps) $(echo "$out" | lat)"
    done
  done
  out=$(pgbench -h 127.0.0.1 -p 5432 -U postgres -M prepared -c 16 -j 2 -T ${SECS:-6} -n -f $work/native.sql $db 2>&1); echo "postgres native $round $(echo "$out" | tps) $(echo "$out" | lat)"
done
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
