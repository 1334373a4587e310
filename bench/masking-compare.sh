#!/usr/bin/env bash
# Masking cost, in one run: SELECT of ROWS rows × 6 columns (2 masked: email with `email`, ssn with `last4`) read
# by Npgsql directly, through a pass-through Gatehouse, and through a Gatehouse whose grant masks the two columns;
# then pgbench -S through the pass-through gateway and through the masking one (its masks name a table pgbench
# does not touch). Reports wall-time ratios, the masking gateway's CPU (utime+stime from /proc) per masked value,
# the same over the pass-through gateway's CPU for the same read, and peak RSS (VmHWM).
# Usage: bench/masking-compare.sh [rows] [pgbench-seconds]   (defaults 1000000 and 10); BENCH_REPEAT=N (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
PGBENCH_SECONDS=${2:-10}
REPEAT=${BENCH_REPEAT:-3}
source bench/lib/cluster.sh

echo "== starting PostgreSQL on $PG_PORT, $ROWS rows in bench_people, pgbench scale 10"
start_postgres
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres <<SQL
CREATE TABLE bench_people (id int PRIMARY KEY, name text, email text, ssn text, city text, balance numeric(12,2));
INSERT INTO bench_people
  SELECT g, 'Person ' || g, 'person.' || g || '@example.com', lpad((g % 900 + 100)::text, 3, '0') || '-' || lpad((g % 90 + 10)::text, 2, '0') || '-' || lpad((g % 9000 + 1000)::text, 4, '0'),
         (ARRAY['Lisbon', 'Oslo', 'Quito', 'Accra'])[g % 4 + 1], (g % 100000) / 100.0
  FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE bench_people;
CREATE ROLE app_read NOLOGIN;
SQL
"$PGBENCH" -i -s 10 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres >/dev/null 2>&1
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_read" postgres

echo "== building Gatehouse and the reader, starting a pass-through and a masking gateway"
build_gatehouse
dotnet build bench/Gatehouse.Benchmarks -c Release -nologo -v quiet -clp:ErrorsOnly
READER=bench/Gatehouse.Benchmarks/bin/Release/net10.0/Gatehouse.Benchmarks
start_gatehouse plain bench/policies/pass-through.yaml ""
start_gatehouse masked bench/policies/masked.yaml ""
TOKEN_plain=$(gatehouse_token plain); TOKEN_masked=$(gatehouse_token masked)
SQL="SELECT id, name, email, ssn, city, balance FROM bench_people"
conn() { echo "Host=127.0.0.1;Port=$1;Database=$2;Username=$3;Password=$4;SSL Mode=Disable;Pooling=false;Timeout=30"; }

declare -A wall cpu
read_once() { # name port db user password pid(or -)
  local before after out
  [ "$6" != - ] && before=$(cpu_ticks "$6")
  out=$("$READER" --read-rows "$(conn "$2" "$3" "$4" "$5")" "$SQL")
  case $out in *"rows=$ROWS "*) ;; *) echo "$1: unexpected reader output: $out" >&2; exit 1 ;; esac
  wall[$1]+=" ${out##*seconds=}"
  [ "$6" != - ] && after=$(cpu_ticks "$6") && cpu[$1]+=" $(( after - before ))"
  return 0
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== SELECT of $ROWS rows × 6 columns, $REPEAT rounds (direct, pass-through, masking; interleaved)"
read_once warmup-plain "$GH_PORT_plain" bench agent "$TOKEN_plain" -
read_once warmup-masked "$GH_PORT_masked" bench agent "$TOKEN_masked" -
for _ in $(seq 1 "$REPEAT"); do
  read_once direct "$PG_PORT" postgres postgres "$PASSWORD" -
  read_once plain "$GH_PORT_plain" bench agent "$TOKEN_plain" "$GH_PID_plain"
  read_once masked "$GH_PORT_masked" bench agent "$TOKEN_masked" "$GH_PID_masked"
done
d=$(echo "${wall[direct]}" | median); p=$(echo "${wall[plain]}" | median); m=$(echo "${wall[masked]}" | median)
cp_=$(echo "${cpu[plain]}" | median); cm=$(echo "${cpu[masked]}" | median)
masked_values=$(( ROWS * 2 ))
awk -v d="$d" -v p="$p" -v m="$m" -v cp="$cp_" -v cm="$cm" -v hz="$CLK_TCK" -v n="$masked_values" -v rows="$ROWS" 'BEGIN {
  printf "wall seconds (median): direct %.3f, pass-through %.3f (%.2fx), masking %.3f (%.2fx direct, %.2fx pass-through)\n", d, p, p / d, m, m / d, m / p
  printf "gateway CPU (median): pass-through %.3f s (%.3f us/row), masking %.3f s (%.3f us per masked value; %.3f us per masked value over pass-through)\n",
    cp / hz, cp / hz * 1e6 / rows, cm / hz, cm / hz * 1e6 / n, (cm - cp) / hz * 1e6 / n
}'
echo "peak RSS (VmHWM): pass-through $(awk '/VmHWM/ { print $2, $3 }' /proc/$GH_PID_plain/status), masking $(awk '/VmHWM/ { print $2, $3 }' /proc/$GH_PID_masked/status)"

echo "== pgbench -S -M simple, 8 clients, ${PGBENCH_SECONDS}s per cell, $REPEAT rounds (pass-through vs masks loaded)"
declare -A tps
for _ in $(seq 1 "$REPEAT"); do
  for name in plain masked; do
    port_var=GH_PORT_$name; token_var=TOKEN_$name
    out=$(PGPASSWORD=${!token_var} "$PGBENCH" -n -S -M simple -c 8 -j 8 -T "$PGBENCH_SECONDS" -h 127.0.0.1 -p "${!port_var}" -U agent bench 2>&1) || { echo "$out" >&2; exit 1; }
    tps[$name]+=" $(echo "$out" | awk '/^tps/ { print $3; exit }')"
  done
done
tp=$(echo "${tps[plain]}" | median); tm=$(echo "${tps[masked]}" | median)
awk -v a="$tp" -v b="$tm" -v ra="${tps[plain]}" -v rb="${tps[masked]}" 'BEGIN {
  printf "pgbench -S tps (median): pass-through %.0f [%s ], masks loaded %.0f [%s ] (%+.1f%%)\n", a, ra, b, rb, (b - a) / a * 100 }'
