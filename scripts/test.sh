#!/usr/bin/env bash
# README command 2: installs everything the suites need (Debian packages, npm
# dependencies, a running PostgreSQL), creates fresh test databases, and runs
# the type check, the build, the unit and integration tests, and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

require_node
ensure_debian_packages nft:nftables ip:iproute2 iperf3:iperf3 chromium:chromium ping:iputils-ping \
  curl:curl arping:iputils-arping ps:procps pg_ctlcluster:postgresql psql:postgresql-client \
  bird:bird2 keepalived:keepalived hping3:hping3
ensure_npm_dependencies clean

# PostgreSQL: start the local cluster when it is not answering.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  cluster_version=$(ls /etc/postgresql | sort -n | tail -1)
  say "starting PostgreSQL ${cluster_version}"
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not start; see /var/log/postgresql/"
fi

# Tests connect over TCP. Where the server does not trust local connections (a
# stock Debian install), a password role for tests is created once.
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
if ! PGCONNECT_TIMEOUT=5 psql "$TEST_DATABASE_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then
  say "creating the PostgreSQL role tula_test for the tests"
  as_root runuser -u postgres -- psql -qc \
    "DO \$\$ BEGIN CREATE ROLE tula_test LOGIN CREATEDB PASSWORD 'tula_test'; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
  export TEST_DATABASE_URL=postgresql://tula_test:tula_test@127.0.0.1:5432/postgres
  psql "$TEST_DATABASE_URL" -qAtc 'SELECT 1' >/dev/null || die "cannot connect to PostgreSQL at $TEST_DATABASE_URL"
fi

say "creating fresh test databases"
for stale in $(psql "$TEST_DATABASE_URL" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'tula\_t\_%' OR datname = 'tula_e2e'"); do
  psql "$TEST_DATABASE_URL" -qc "DROP DATABASE \"$stale\" WITH (FORCE)" >/dev/null
done
psql "$TEST_DATABASE_URL" -qc 'CREATE DATABASE tula_e2e' >/dev/null
export E2E_DATABASE_URL="${TEST_DATABASE_URL%/*}/tula_e2e"

say "type check and build"
npx turbo run typecheck build --output-logs=errors-only

status=0
say "unit and integration tests (vitest)"
npx vitest run || status=1
say "browser tests (Playwright, Debian Chromium)"
npx playwright test || status=1
# A safety net for the machine, not for the result: the lab tests check their own cleanup.
if [ "$(id -u)" = 0 ]; then npm run -s lab:down >/dev/null 2>&1 || true; fi

if [ "$status" -eq 0 ]; then say "all suites passed"; else say "some suites FAILED (see above)"; fi
exit "$status"
