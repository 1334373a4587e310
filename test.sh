#!/usr/bin/env bash
# The one test command: installs what a fresh Debian machine lacks, then runs every test.
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-client)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
# The console's browser tests drive Debian's Chromium (Playwright's own browser download is never used).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# DocsTests validates deploy/docker-compose.yml with `docker compose config` (or Debian's docker-compose).
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# The client-library tests (JdbcClientTests, PsycopgClientTests, PgxClientTests) drive Debian's packaged drivers;
# pgx builds offline in GOPATH mode against /usr/share/gocode. psycopg is checked with the system python3 it is for.
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
# `java Probe.java` (single-file source launch) needs the JDK's compiler module, not only a runtime.
java --list-modules 2>/dev/null | grep -q '^jdk.compiler' || missing+=(default-jdk-headless)
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || missing+=(python3-psycopg)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/jackc/pgx/v4 ] || missing+=(golang-github-jackc-pgx-v4-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Tests run PostgreSQL as this user when started as root (initdb refuses root).
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
  touch tests/node/node_modules
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Gatehouse.slnx -nologo -v quiet -clp:ErrorsOnly
log=$(mktemp)
status=0
# Normal console verbosity prints why a test failed (the quiet one only names it); the line per passed test is
# dropped, so the log holds failures and totals.
dotnet test Gatehouse.slnx --no-build -nologo -v quiet --logger "console;verbosity=normal" "$@" 2>&1 \
  | grep --line-buffered -v -E '^[[:space:]]+Passed ' | tee "$log" || status=$?

# The failures again at the end, since the gateways' own log lines bury them above: each failed test's block, up
# to its stack trace's first lines.
if grep -qE '^[[:space:]]+Failed [A-Za-z]' "$log"; then
  echo "test.sh: failed tests:"
  awk '/^[[:space:]]+Failed [A-Za-z]/ { n = 30 } n > 0 && !/^[0-9:]+ (warn|info|fail|dbug): / { print; n-- }' "$log"
fi

# One closing line for CI: totals over every test project.
total() { { grep -Eo "$1: +[0-9]+" "$log" || true; } | awk '{ n += $2 } END { print n + 0 }'; }
passed=$(total Passed); failed=$(total Failed); skipped=$(total Skipped)
rm -f "$log"
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
if [ "${passed:-0}" = 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
exit $status
