#!/usr/bin/env bash
# Compares pgbench throughput through Gatehouse with direct PostgreSQL and pgbouncer (session mode), in one run.
# Usage: bench/pgbench-compare.sh [seconds-per-run]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Plaintext on loopback for every contender: libpq would otherwise negotiate TLS with Gatehouse only.
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
  run_pg "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting PostgreSQL on $PG_PORT"
echo "$PASSWORD" > "$work/pwfile"; [ "$(id -u)" = 0 ] && chown postgres "$work/pwfile"
run_pg "$PGBIN/initdb" -D "$work/data" -U postgres --pwfile="$work/pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
run_pg "$PGBIN/pg_ctl" -D "$work/data" -l "$work/pg.log" -w -o "-p $PG_PORT -k $work -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" start >/dev/null
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
  if [ "$variant" = gh ]; then port=$GH_PORT; admin=$GH_ADMIN; else port=$GH_RULES_PORT; admin=$GH_RULES_ADMIN; fi
  echo "$PASSWORD" > "$work/$variant/provisioner.secret"
  cat > "$work/$variant/gatehouse.yaml" <<YAML
listen: { postgres: 127.0.0.1:$port, admin: 127.0.0.1:$admin }
tls: { require: false }
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
  "$GH" serve --config "$work/$variant/gatehouse.yaml" > "$work/$variant/log" 2>&1 & pids+=($!)
done
for i in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/$GH_PORT) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$GH_RULES_PORT) 2>/dev/null; then break; fi
  sleep 0.2
done
TOKEN=$("$GH" token --dev --sub bench-agent --claim groups=ai-agents --ttl 1h --config "$work/gh/gatehouse.yaml" | tail -1)
TOKEN_RULES=$("$GH" token --dev --sub bench-agent --claim groups=ai-agents --ttl 1h --config "$work/gh-rules/gatehouse.yaml" | tail -1)

declare -A tps
bench() { # name port password dbname mode clients
  local out
  out=$(PGPASSWORD=$3 "$PGBENCH" -n -S -M "$5" -c "$6" -j "$6" -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$2" -U postgres "$4" 2>&1) || { echo "$out" >&2; return 1; }
  tps[$1/$5/$6]=$(echo "$out" | awk '/^tps/ { print $3; exit }')
  lat[$1/$5/$6]=$(echo "$out" | awk '/^latency average/ { print $4; exit }')
}
declare -A lat
echo "== warming up (JIT, leases, pools)"
for port_pw_db in "$PG_PORT $PASSWORD postgres" "$BOUNCER_PORT $PASSWORD bench" "$GH_PORT $TOKEN bench" "$GH_RULES_PORT $TOKEN_RULES bench"; do
  set -- $port_pw_db
  PGPASSWORD=$2 "$PGBENCH" -n -S -M extended -c 8 -j 8 -T 3 -h 127.0.0.1 -p "$1" -U postgres "$3" >/dev/null 2>&1
  PGPASSWORD=$2 "$PGBENCH" -n -S -M simple -c 8 -j 8 -T 2 -h 127.0.0.1 -p "$1" -U postgres "$3" >/dev/null 2>&1
done
for mode in simple extended; do
  for clients in 1 8; do
    echo "== pgbench -S -M $mode -c $clients (${SECONDS_PER_RUN}s each)"
    bench direct "$PG_PORT" "$PASSWORD" postgres "$mode" "$clients"
    bench pgbouncer "$BOUNCER_PORT" "$PASSWORD" bench "$mode" "$clients"
    bench gatehouse "$GH_PORT" "$TOKEN" bench "$mode" "$clients"
    bench gatehouse-10-rules "$GH_RULES_PORT" "$TOKEN_RULES" bench "$mode" "$clients"
  done
done

echo
printf '%-9s %-7s %10s %10s %10s %10s %8s %8s %8s %9s\n' mode clients direct pgbouncer gatehouse gh-10rules gh/pgb gh/direct rules/gh gh-lat-ms
for mode in simple extended; do
  for clients in 1 8; do
    d=${tps[direct/$mode/$clients]}; b=${tps[pgbouncer/$mode/$clients]}; g=${tps[gatehouse/$mode/$clients]}; r=${tps[gatehouse-10-rules/$mode/$clients]}
    awk -v m="$mode" -v c="$clients" -v d="$d" -v b="$b" -v g="$g" -v r="$r" -v gl="${lat[gatehouse/$mode/$clients]}" -v bl="${lat[pgbouncer/$mode/$clients]}" \
      'BEGIN { printf "%-9s %-7s %10.0f %10.0f %10.0f %10.0f %8.2f %8.2f %8.2f %5s/%s\n", m, c, d, b, g, r, g/b, g/d, r/g, gl, bl }'
  done
done
echo "(gh-lat-ms: Gatehouse/pgbouncer average latency in ms)"

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

