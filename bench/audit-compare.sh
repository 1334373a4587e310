#!/usr/bin/env bash
# The cost of the audit trail: pgbench -S and the TPC-B-like default script at 8 clients through Gatehouse with
# audit off, and on with the SQLite store (durability process and os) and the PostgreSQL store (process and os),
# in one run. Prints TPS, the ratio to audit off, the records per store transaction, and for os the records per
# fsync of the journal (the group commit that makes them durable).
# Usage: bench/audit-compare.sh [seconds-per-cell]   (default 10); BENCH_CLIENTS (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
CLIENTS=${BENCH_CLIENTS:-8}
source bench/lib/cluster.sh

echo "== starting PostgreSQL on $PG_PORT"
start_postgres
"$PGBENCH" -i -s 10 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres >/dev/null 2>&1
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres -c "
  CREATE ROLE app_write NOLOGIN;
  GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO app_write;"
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres -c "CREATE DATABASE gatehouse_state"
head -c 32 /dev/urandom | base64 > "$work/audit.key"
STATE_URI="postgres://postgres:$PASSWORD@127.0.0.1:$PG_PORT/gatehouse_state"

echo "== building and starting five gateways"
build_gatehouse
POLICY=bench/policies/read-write.yaml
start_gatehouse off "$POLICY" "audit: { enabled: false }"
start_gatehouse sqlite_process "$POLICY" "audit: { durability: process }"
start_gatehouse sqlite_os "$POLICY" "audit: { durability: os }"
start_gatehouse pg_process "$POLICY" "audit: { durability: process, key_file: $work/audit.key }" "$STATE_URI"
start_gatehouse pg_os "$POLICY" "audit: { durability: os, key_file: $work/audit.key }" "$STATE_URI"
NAMES="off sqlite_process sqlite_os pg_process pg_os"
declare -A token tps recs fsyncs cpu
for name in $NAMES; do token[$name]=$(gatehouse_token "$name"); done

run() { # name script(select-only|tpcb-like)
  local name=$1 script=$2 port_var=GH_PORT_$1 admin_var=GH_ADMIN_$1 pid_var=GH_PID_$1 out r0 b0 r1 b1 s0 s1 c0 c1
  r0=$(metric "${!admin_var}" gatehouse_audit_records_total); b0=$(metric "${!admin_var}" gatehouse_audit_batches_total)
  s0=$(metric "${!admin_var}" gatehouse_audit_journal_syncs_total)
  c0=$(cpu_ticks "${!pid_var}")
  out=$(PGPASSWORD=${token[$name]} "$PGBENCH" -n -b "$script" -M simple -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" \
    -h 127.0.0.1 -p "${!port_var}" -U agent bench 2>&1) || { echo "$out" >&2; return 1; }
  c1=$(cpu_ticks "${!pid_var}")
  tps[$name/$script]=$(echo "$out" | awk '/^tps/ { print $3; exit }')
  cpu[$name/$script]=$(echo "$out" | awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" \
    '/number of transactions actually processed/ { split($0, f, ": "); split(f[2], n, "/"); printf "%.1f", (b - a) / hz * 1e6 / n[1]; exit }')
  r1=$(metric "${!admin_var}" gatehouse_audit_records_total); b1=$(metric "${!admin_var}" gatehouse_audit_batches_total)
  s1=$(metric "${!admin_var}" gatehouse_audit_journal_syncs_total)
  if [ -n "$s0" ] && [ -n "$s1" ] && [ "${s1%.*}" != "${s0%.*}" ]; then
    fsyncs[$name/$script]=$(awk -v a="$r1" -v b="$r0" -v c="$s1" -v d="$s0" 'BEGIN { printf "%.1f", (a - b) / (c - d) }')
  else
    fsyncs[$name/$script]=-
  fi
  if [ -n "$r0" ] && [ -n "$b1" ] && [ "${b1%.*}" != "${b0%.*}" ]; then
    recs[$name/$script]=$(awk -v a="$r1" -v b="$r0" -v c="$b1" -v d="$b0" 'BEGIN { printf "%.1f", (a - b) / (c - d) }')
  else
    recs[$name/$script]=-
  fi
}
echo "== warming up"
for name in $NAMES; do port_var=GH_PORT_$name
  PGPASSWORD=${token[$name]} "$PGBENCH" -n -S -c 8 -j 8 -T 2 -h 127.0.0.1 -p "${!port_var}" -U agent bench >/dev/null 2>&1
done
for script in select-only tpcb-like; do
  echo "== pgbench -b $script -c $CLIENTS (${SECONDS_PER_RUN}s each)"
  # Twice round, so drift on a shared machine hits every contender alike; the second round is reported.
  for round in 1 2; do
    for name in $NAMES; do run "$name" "$script"; done
  done
done

echo
echo "TPS (pgbench -M simple, $CLIENTS clients; last round), ratio to audit off, the gateway process's CPU µs per"
echo "transaction (utime+stime of all its threads; a PostgreSQL store's own work is in PostgreSQL's), records per store"
echo "transaction and per journal fsync"
printf '%-12s %-16s %9s %7s %9s %9s %11s\n' script gateway tps ratio cpu_us recs/txn recs/fsync
for script in select-only tpcb-like; do
  for name in $NAMES; do
    awk -v s="$script" -v n="$name" -v t="${tps[$name/$script]}" -v o="${tps[off/$script]}" -v r="${recs[$name/$script]}" -v f="${fsyncs[$name/$script]}" \
      -v c="${cpu[$name/$script]}" 'BEGIN { printf "%-12s %-16s %9.0f %7.2f %9s %9s %11s\n", s, n, t, t / o, c, r, f }'
  done
done
for name in off sqlite_process; do
  pid_var=GH_PID_$name
  echo "gateway $name: CPU seconds by thread over the whole run"
  threads_cpu "${!pid_var}"
done
