# Shared by bench scripts: a throwaway PostgreSQL, Gatehouse instances in front of it, CPU and metrics readers.
# Source it after `set -euo pipefail`; it sets $work, $PG_PORT, $PASSWORD, $PGBIN, $PGBENCH and traps EXIT.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
PGBIN=$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
PGBENCH=$(command -v pgbench || echo "$PGBIN/pgbench")
work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
chmod 755 "$work"
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG_PORT=$(free_port)
PASSWORD=bench-$RANDOM-$RANDOM
export PGPASSWORD=$PASSWORD PGSSLMODE=disable DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  run_pg "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_postgres [extra -c settings…]: initdb and start on $PG_PORT.
start_postgres() {
  echo "$PASSWORD" > "$work/pwfile"; [ "$(id -u)" = 0 ] && chown postgres "$work/pwfile"
  run_pg "$PGBIN/initdb" -D "$work/data" -U postgres --pwfile="$work/pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  run_pg "$PGBIN/pg_ctl" -D "$work/data" -l "$work/pg.log" -w -o "-p $PG_PORT -k $work -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB $*" start >/dev/null
}

# start_gatehouse NAME POLICY "EXTRA YAML LINES" [STATE]: a gateway in $work/NAME (state: sqlite:state.db unless STATE);
# sets GH_PORT_<NAME>, GH_ADMIN_<NAME>, GH_PID_<NAME>.
GH=src/Gatehouse/bin/Release/net10.0/gatehouse
build_gatehouse() { dotnet build src/Gatehouse -c Release -nologo -v quiet -clp:ErrorsOnly; }
start_gatehouse() {
  local name=$1 policy=$2 extra=$3 state=${4:-sqlite:state.db} port admin
  port=$(free_port); admin=$(free_port)
  mkdir -p "$work/$name"
  cp "$policy" "$work/$name/policy.yaml"
  echo "$PASSWORD" > "$work/$name/provisioner.secret"
  cat > "$work/$name/gatehouse.yaml" <<YAML
listen: { postgres: 127.0.0.1:$port, admin: 127.0.0.1:$admin }
tls: { require: false }
identity: { audiences: [gatehouse], dev_issuer: true }
state: $state
targets:
  bench:
    host: 127.0.0.1
    port: $PG_PORT
    database: postgres
    tls: disable
    provisioner: { user: postgres, password_file: provisioner.secret }
policy: policy.yaml
$extra
YAML
  "$GH" serve --config "$work/$name/gatehouse.yaml" > "$work/$name/log" 2>&1 & pids+=($!)
  printf -v "GH_PID_$name" %s "$!"; printf -v "GH_PORT_$name" %s "$port"; printf -v "GH_ADMIN_$name" %s "$admin"
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0; sleep 0.2; done
  echo "gatehouse $name did not start:" >&2; cat "$work/$name/log" >&2; return 1
}
gatehouse_token() { "$GH" token --dev --sub bench-agent --claim groups=ai-agents --ttl 1h --config "$work/$1/gatehouse.yaml" | tail -1; }

# CPU seconds × CLK_TCK (utime+stime, all threads) a process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
# metric ADMIN_PORT NAME: one value from a gateway's /metrics.
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit }'; }
# threads_cpu PID: the process's CPU seconds summed by thread name, largest first (names under 0.05 s left out).
threads_cpu() {
  for t in /proc/"$1"/task/*; do awk -v hz="$CLK_TCK" '{ sub(/^[0-9]+ \(/, ""); split($0, a, ") "); split(a[2], f, " "); printf "%s\t%.2f\n", a[1], (f[12] + f[13]) / hz }' "$t/stat"; done |
    awk -F'\t' '{ s[$1] += $2 } END { for (n in s) if (s[n] >= 0.05) printf "  %7.2f  %s\n", s[n], n }' | sort -nr
}
