#!/usr/bin/env bash
# Compares pgbench throughput, and the relay's CPU per transaction, of Gatehouse with direct PostgreSQL and
# pgbouncer (session mode), plaintext and TLS (the same certificate for every contender), in one run.
# Usage: bench/pgbench-compare.sh [seconds-per-cell]   (default 10)
# Narrow it with BENCH_MODES="simple extended", BENCH_CLIENTS="1 8", BENCH_TLS="plain tls"; BENCH_CONNECT=0
# skips the connection set-up part. BENCH_REPEAT=N runs every cell N times, interleaved, and reports medians.
# BENCH_PROFILE=strace (syscalls per transaction) or perf (a CPU profile with .NET
# perf maps) profiles each single-process contender during its cells; the results land in BENCH_OUT
# (default /tmp/gatehouse-bench-out). A profiled run's TPS and CPU figures include the profiler's cost.
# BENCH_GH_ENV="NAME=value …" starts both Gatehouse instances with those variables (runtime experiments).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
MODES=${BENCH_MODES:-simple extended}
CLIENTS=${BENCH_CLIENTS:-1 8}
TLS_MODES=${BENCH_TLS:-plain tls}
REPEAT=${BENCH_REPEAT:-1}
PROFILE=${BENCH_PROFILE:-}
OUT=${BENCH_OUT:-/tmp/gatehouse-bench-out}
[ -z "$PROFILE" ] || mkdir -p "$OUT"
# Without W^X the JIT-ed code is not behind a memfd mapping, so perf finds its names in the perf map.
[ "$PROFILE" = perf ] && export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Each cell says plaintext or TLS; libpq would otherwise negotiate TLS wherever it is offered.
export PGSSLMODE=disable

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v pgbouncer >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }
PGBIN=$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
PGBENCH=$(command -v pgbench || echo "$PGBIN/pgbench")

work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
chmod 755 "$work"
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG_PORT=$(free_port); BOUNCER_PORT=$(free_port); GH_PORT=$(free_port); GH_ADMIN=$(free_port)
GH_RULES_PORT=$(free_port); GH_RULES_ADMIN=$(free_port)
PASSWORD=bench-$RANDOM-$RANDOM
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # runuser does not pass the signal on: stop pgbouncer by its own pid.
  [ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true
  run_pg "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# One self-signed certificate for PostgreSQL, pgbouncer and Gatehouse.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
chmod 600 "$work/key.pem"; [ "$(id -u)" = 0 ] && chown postgres "$work/key.pem" "$work/cert.pem"

echo "== starting PostgreSQL on $PG_PORT"
echo "$PASSWORD" > "$work/pwfile"; [ "$(id -u)" = 0 ] && chown postgres "$work/pwfile"
run_pg "$PGBIN/initdb" -D "$work/data" -U postgres --pwfile="$work/pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
run_pg "$PGBIN/pg_ctl" -D "$work/data" -l "$work/pg.log" -w -o "-p $PG_PORT -k $work -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c ssl=on -c ssl_cert_file=$work/cert.pem -c ssl_key_file=$work/key.pem" start >/dev/null
export PGPASSWORD=$PASSWORD
"$PGBENCH" -i -s 10 -q -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres >/dev/null 2>&1
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE ROLE app_read NOLOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_read;" postgres

echo "== starting pgbouncer (session mode) on $BOUNCER_PORT"
cat > "$work/pgbouncer.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = plain
auth_file = $work/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 50
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
client_tls_sslmode = allow
client_tls_cert_file = $work/cert.pem
client_tls_key_file = $work/key.pem
INI
echo "\"postgres\" \"$PASSWORD\"" > "$work/userlist.txt"
[ "$(id -u)" = 0 ] && chown postgres "$work"/pgbouncer.ini "$work"/userlist.txt
run_pg pgbouncer -q "$work/pgbouncer.ini" & pids+=($!)

echo "== building and starting Gatehouse (pass-through policy and a 10-rule policy)"
dotnet build src/Gatehouse -c Release -nologo -v quiet -clp:ErrorsOnly
GH=src/Gatehouse/bin/Release/net10.0/gatehouse
mkdir -p "$work/gh" "$work/gh-rules"
cp bench/policies/pass-through.yaml "$work/gh/policy.yaml"
cp bench/policies/ten-rules.yaml "$work/gh-rules/policy.yaml"
for variant in gh gh-rules; do
  cp "$work/cert.pem" "$work/key.pem" "$work/$variant/"
  if [ "$variant" = gh ]; then port=$GH_PORT; admin=$GH_ADMIN; else port=$GH_RULES_PORT; admin=$GH_RULES_ADMIN; fi
  echo "$PASSWORD" > "$work/$variant/provisioner.secret"
  cat > "$work/$variant/gatehouse.yaml" <<YAML
listen: { postgres: 127.0.0.1:$port, admin: 127.0.0.1:$admin }
tls: { require: false, certificate: cert.pem, key: key.pem }
identity: { audiences: [gatehouse], dev_issuer: true }
state: sqlite:state.db
targets:
  bench:
    host: 127.0.0.1
    port: $PG_PORT
    database: postgres
    tls: disable
    provisioner: { user: postgres, password_file: provisioner.secret }
policy: policy.yaml
YAML
  env ${BENCH_GH_ENV:-} "$GH" serve --config "$work/$variant/gatehouse.yaml" > "$work/$variant/log" 2>&1 & pids+=($!)
  if [ "$variant" = gh ]; then GH_PID=$!; else GH_RULES_PID=$!; fi
done
for i in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/$GH_PORT) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$GH_RULES_PORT) 2>/dev/null; then break; fi
  sleep 0.2
done
TOKEN=$("$GH" token --dev --sub bench-agent --claim groups=ai-agents --ttl 1h --config "$work/gh/gatehouse.yaml" | tail -1)
TOKEN_RULES=$("$GH" token --dev --sub bench-agent --claim groups=ai-agents --ttl 1h --config "$work/gh-rules/gatehouse.yaml" | tail -1)

# CPU seconds (utime+stime, all threads) a process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
# Context switches (voluntary + involuntary) of all its threads so far: each is a sleep or a preemption.
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'; }
declare -A tps lat cpu csw
# One cell: pgbench against one contender; for a contender that is one process, its CPU per transaction.
bench() { # name port password dbname mode clients tls pid(or -)
  local out before after txns sslmode=disable
  [ "$7" = tls ] && sslmode=require
  local key=$1/$5/$6/$7 profiler=
  if [ "$8" != - ] && [ -n "$PROFILE" ]; then
    case $PROFILE in
      strace) strace -c -f -q -p "$8" -o "$OUT/strace-${key//\//-}.txt" & profiler=$! ;;
      perf) perf record -q -e cpu-clock -F 999 -g -p "$8" -o "$OUT/perf-${key//\//-}.data" 2>/dev/null & profiler=$! ;;
    esac
    sleep 1
  fi
  local sw_before=0
  [ "$8" != - ] && before=$(cpu_ticks "$8") && sw_before=$(switches "$8")
  out=$(PGSSLMODE=$sslmode PGPASSWORD=$3 "$PGBENCH" -n -S -M "$5" -c "$6" -j "$6" -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$2" -U postgres "$4" 2>&1) || { echo "$out" >&2; return 1; }
  tps[$key]+=" $(echo "$out" | awk '/^tps/ { print $3; exit }')"
  lat[$key]+=" $(echo "$out" | awk '/^latency average/ { print $4; exit }')"
  if [ "$8" != - ]; then
    after=$(cpu_ticks "$8")
    txns=$(echo "$out" | awk '/^number of transactions actually processed/ { print $NF; exit }')
    cpu[$key]+=" "$(awk -v a="$after" -v b="$before" -v t="$txns" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", (a - b) / hz * 1e6 / t }')
    csw[$key]+=" "$(awk -v a="$(switches "$8")" -v b="$sw_before" -v t="$txns" 'BEGIN { printf "%.2f", (a - b) / t }')
  fi
  if [ -n "$profiler" ]; then
    kill -INT "$profiler"; wait "$profiler" 2>/dev/null || true
    if [ "$PROFILE" = strace ]; then
      echo "   $key: syscalls per transaction ($txns transactions):"
      awk -v t="$txns" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { e = NF == 6 ? $5 : 0
          if ($4 / t >= 0.05) printf "     %-16s %6.2f  (failed %.2f)\n", $NF, $4 / t, e / t; total += $4 }
        END { printf "     %-16s %6.2f\n", "all", total / t }' "$OUT/strace-${key//\//-}.txt"
    fi
  fi
}
echo "== warming up (JIT, leases, pools)"
for port_pw_db in "$PG_PORT $PASSWORD postgres" "$BOUNCER_PORT $PASSWORD bench" "$GH_PORT $TOKEN bench" "$GH_RULES_PORT $TOKEN_RULES bench"; do
  set -- $port_pw_db
  for sslmode in disable require; do
    PGSSLMODE=$sslmode PGPASSWORD=$2 "$PGBENCH" -n -S -M extended -c 8 -j 8 -T 2 -h 127.0.0.1 -p "$1" -U postgres "$3" >/dev/null 2>&1
    PGSSLMODE=$sslmode PGPASSWORD=$2 "$PGBENCH" -n -S -M simple -c 8 -j 8 -T 2 -h 127.0.0.1 -p "$1" -U postgres "$3" >/dev/null 2>&1
  done
done
BOUNCER_PID=$(cat "$work/pgbouncer.pid")
for round in $(seq 1 "$REPEAT"); do
for tls in $TLS_MODES; do
  for mode in $MODES; do
    for clients in $CLIENTS; do
      echo "== round $round: pgbench -S -M $mode -c $clients, $tls (${SECONDS_PER_RUN}s each)"
      bench direct "$PG_PORT" "$PASSWORD" postgres "$mode" "$clients" "$tls" -
      bench pgbouncer "$BOUNCER_PORT" "$PASSWORD" bench "$mode" "$clients" "$tls" "$BOUNCER_PID"
      bench gatehouse "$GH_PORT" "$TOKEN" bench "$mode" "$clients" "$tls" "$GH_PID"
      bench gatehouse-10-rules "$GH_RULES_PORT" "$TOKEN_RULES" bench "$mode" "$clients" "$tls" "$GH_RULES_PID"
    done
  done
done
done
# The median of a cell's rounds (the middle one; the lower middle for an even count).
median() { echo $1 | tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo
[ "$REPEAT" = 1 ] || echo "(medians of $REPEAT rounds)"
echo "TPS, and CPU µs per transaction of the relay process (pgbouncer, Gatehouse; PostgreSQL and pgbench not counted)"
printf '%-9s %-7s %-5s %8s %8s %8s %8s %7s %8s %8s %8s %8s %9s %6s %6s %13s\n' \
  mode clients tls direct pgb gh gh-10r gh/pgb pgb-us gh-us gh10-us gh/pgb rules/pgb pgb-cs gh-cs gh-lat-ms
for tls in $TLS_MODES; do
  for mode in $MODES; do
    for clients in $CLIENTS; do
      k=$mode/$clients/$tls
      awk -v m="$mode" -v c="$clients" -v t="$tls" -v d="$(median "${tps[direct/$k]}")" -v b="$(median "${tps[pgbouncer/$k]}")" \
        -v g="$(median "${tps[gatehouse/$k]}")" -v r="$(median "${tps[gatehouse-10-rules/$k]}")" -v bc="$(median "${cpu[pgbouncer/$k]}")" \
        -v gc="$(median "${cpu[gatehouse/$k]}")" -v rc="$(median "${cpu[gatehouse-10-rules/$k]}")" -v gl="$(median "${lat[gatehouse/$k]}")" \
        -v bl="$(median "${lat[pgbouncer/$k]}")" -v bs="$(median "${csw[pgbouncer/$k]}")" -v gs="$(median "${csw[gatehouse/$k]}")" \
        'BEGIN { printf "%-9s %-7s %-5s %8.0f %8.0f %8.0f %8.0f %7.2f %8.1f %8.1f %8.1f %8.2f %9.2f %6.2f %6.2f %6s/%s\n", m, c, t, d, b, g, r, g/b, bc, gc, rc, gc/bc, rc/bc, bs, gs, gl, bl }'
    done
  done
done
echo "(gh/pgb: TPS ratio, then CPU-per-transaction ratio; -cs: context switches per transaction; gh-lat-ms: Gatehouse/pgbouncer average latency in ms)"
echo "Gatehouse (no rules) CPU seconds by thread over the whole run:"
for t in /proc/"$GH_PID"/task/*; do awk -v hz="$CLK_TCK" '{ sub(/^[0-9]+ \(/, ""); split($0, a, ") "); split(a[2], f, " "); printf "%s\t%.2f\n", a[1], (f[12] + f[13]) / hz }' "$t/stat"; done |
  awk -F'\t' '{ s[$1] += $2 } END { for (n in s) if (s[n] >= 0.05) printf "  %7.2f  %s\n", s[n], n }' | sort -nr
[ "${BENCH_CONNECT:-1}" = 1 ] || exit 0

echo
echo "== connection set-up: pgbench -S -C -c 1 (a new connection for every transaction, ${SECONDS_PER_RUN}s each)"
declare -A conn
connect_bench() { # name port password dbname
  local out
  out=$(PGPASSWORD=$3 "$PGBENCH" -n -S -C -M simple -c 1 -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$2" -U postgres "$4" 2>&1) || { echo "$out" >&2; return 1; }
  conn[$1]=$(echo "$out" | awk '/^latency average/ { print $4; exit }')
}
connect_bench direct "$PG_PORT" "$PASSWORD" postgres
connect_bench pgbouncer "$BOUNCER_PORT" "$PASSWORD" bench
connect_bench gatehouse-warm-lease "$GH_PORT" "$TOKEN" bench
# Cold leases: every connection is a new identity, so each one creates a role upstream.
cold_total=0
for i in $(seq 1 20); do
  t=$("$GH" token --dev --sub "cold-$i-$RANDOM" --claim groups=ai-agents --ttl 10m --config "$work/gh/gatehouse.yaml" | tail -1)
  start=$(date +%s%N)
  PGPASSWORD=$t psql -X -q -h 127.0.0.1 -p "$GH_PORT" -U agent -d bench -c "SELECT 1" >/dev/null
  cold_total=$(( cold_total + $(date +%s%N) - start ))
done
direct_total=0
for i in $(seq 1 20); do
  start=$(date +%s%N)
  psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "SELECT 1" >/dev/null
  direct_total=$(( direct_total + $(date +%s%N) - start ))
done
printf '%-28s %12s %10s\n' "connection + 1 query" "ms each" "vs direct"
for name in direct pgbouncer gatehouse-warm-lease; do
  awk -v n="$name" -v v="${conn[$name]}" -v d="${conn[direct]}" 'BEGIN { printf "%-28s %12.3f %10.2f\n", n " (pgbench -C)", v, v/d }'
done
awk -v c="$cold_total" -v d="$direct_total" 'BEGIN { printf "%-28s %12.3f %10.2f\n", "gatehouse cold lease (psql)", c/20/1e6, c/d; printf "%-28s %12.3f %10.2f\n", "direct (psql)", d/20/1e6, 1 }'

