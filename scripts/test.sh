#!/usr/bin/env bash
# README command 2: installs everything the suites need (Debian packages, npm
# dependencies, a running PostgreSQL), creates fresh test databases, and runs
# the type check, the build, the unit and integration tests, and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

require_node

# Each step's start (seconds after this script began) and length, printed at the end so the
# CI log shows where the time goes. Steps in the background write here too.
t0=$(date +%s)
timings=$(mktemp)
# Every suite's output, so that the end of the log (all a CI page may keep) can name what failed.
suite_output=$(mktemp)
trap 'rm -f "$timings" "$suite_output"' EXIT
# timed NAME COMMAND...: runs COMMAND and notes its start, length and outcome under NAME.
timed() {
  local name=$1 start rc=0
  shift
  start=$(date +%s)
  "$@" || rc=$?
  printf '%-48s +%4ds %5ds  %s\n' "$name" $((start - t0)) $(($(date +%s) - start)) "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED ($rc)")" >>"$timings"
  return "$rc"
}
# tagged TAG COMMAND...: COMMAND's output with [TAG] before each line (several run at once).
tagged() {
  local tag=$1
  shift
  "$@" 2>&1 | sed -u "s/^/[$tag] /" | tee -a "$suite_output"
}
# The failing tests and their first error lines, repeated at the end (colours stripped, long lines
# cut), because a CI page may keep only the end of the log: vitest's "Failed Tests" section and
# Playwright's numbered failures, from the line that opens them on.
failures() {
  local lines
  lines=$(sed 's/\x1b\[[0-9;]*m//g' "$suite_output" | awk '
    /Failed Tests [0-9]+/ || /^\[[a-z-]+\] +[0-9]+\) / { open[$1] = 1 }
    open[$1] && /(FAIL |[0-9]+\) |Error|[Ee]xpected|Received|[Tt]imed out|[Tt]imeout)/ { print }
  ' | cut -c1-300 | awk '!seen[$0]++' | head -60) || true
  [ -z "$lines" ] && return 0
  say "what failed (its first 60 distinct lines; the whole output is above)"
  printf '%s\n' "$lines"
}
summary() {
  say "time per step (start after the beginning, length; steps overlap where the starts say so)"
  sort -t+ -k2 -n "$timings"
  printf '%-48s %12ds\n' 'total (wall)' $(($(date +%s) - t0))
}

timed "Debian packages" ensure_debian_packages nft:nftables ip:iproute2 iperf3:iperf3 chromium:chromium chromium-headless-shell:chromium-headless-shell ping:iputils-ping \
  curl:curl arping:iputils-arping ps:procps pg_ctlcluster:postgresql psql:postgresql-client \
  bird:bird2 keepalived:keepalived hping3:hping3 prometheus:prometheus \
  systemd-analyze:systemd qemu-aarch64-static:qemu-user-static /usr/aarch64-linux-gnu/lib/libc.so.6:libc6-arm64-cross \
  /usr/aarch64-linux-gnu/lib/libstdc++.so.6:libstdc++6-arm64-cross /usr/aarch64-linux-gnu/lib/libgcc_s.so.1:libgcc-s1-arm64-cross
timed "npm ci" ensure_npm_dependencies clean

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

# The steps overlap (README, "npm test"): the kernel tests mostly wait on packets, timers and
# daemons, the checks and the build mostly compute. In order of start:
#   the Prisma client and the agent's bundle; then at once the `kernel` and `kernel-converge` tests
#   (agent and nftables, nothing built needed), and Prettier, the type check and build, and ESLint;
#   once the build is there, the browser tests that need no lab, and the `kernel-panel` tests followed
#   by the browser tests on the local lab; once both agent projects are done, the `host` tests.
status=0
# The default lab (test/lab.test.ts) and the browser tests' (pwlab, playwright.config.ts) differ
# only while these are unset.
unset TULA_LAB_PREFIX TULA_LAB_NET
say "Prisma client"
timed "Prisma client (turbo run generate)" npx turbo run generate --output-logs=errors-only

# The tests start the agent hundreds of times: from one esbuild bundle (what the release ships,
# built from this tree) each start costs about a fifth of tsx's CPU. A copy of its own, because the
# build below writes apps/agent/dist again while the kernel tests run.
say "the agent's bundle for the tests"
agent_bundle_dir=$(mktemp -d)
trap 'rm -f "$timings" "$suite_output"; rm -rf "$agent_bundle_dir"' EXIT
timed "agent bundle (esbuild)" npm run -s build -w @tula/agent
cp apps/agent/dist/tula-agent.mjs "$agent_bundle_dir/"
export TULA_AGENT_BUNDLE="$agent_bundle_dir/tula-agent.mjs"

# The agent's kernel tests in two projects side by side, each one file at a time: together they took
# 400 s of a 678 s run with under half a core busy (waiting on timers and traffic), and the `host` tests
# waited for them (2026-12-06).
say "kernel tests without the panel (vitest --project kernel and --project kernel-converge, one file at a time each), in the background"
(timed "vitest kernel (data plane)" tagged kernel npx vitest run --project kernel) &
kernel_tests=$!
(timed "vitest kernel-converge (convergence, failover)" tagged kernel-converge npx vitest run --project kernel-converge) &
kernel_converge_tests=$!

say "format check (Prettier; npm run format fixes it)"
timed "Prettier" npx prettier --check . --log-level warn || status=1
say "type check and build, and lint (ESLint, type-aware; npm run lint) beside them"
# ESLint reads the generated Prisma client (made above), nothing the build makes.
(timed "ESLint" tagged lint npm run -s lint) &
lint=$!
build=0
timed "type check and build (turbo)" npx turbo run typecheck build --output-logs=errors-only || build=1

if [ "$build" -ne 0 ]; then
  status=1
  wait "$lint" || true
  say "the build FAILED: the tests that start the panel cannot run (waiting for the kernel tests)"
  wait "$kernel_tests" || true
  wait "$kernel_converge_tests" || true
  failures
  summary
  exit 1
fi

# Three lanes from here, each mostly waiting on something the others do not: the browser tests without the
# lab (a page's timers and the panel's answers); the `kernel-panel` tests and then the browser tests on the
# lab (namespaces, agents, daemons); and, once the agent's kernel tests are done, the `host` tests (three files
# at a time, the lane that computes). One after the other, `kernel`, `kernel-panel` and the lab's specs took
# 900 s of a 946 s run while the machine was a third idle in the browser tests' first 270 s (2026-12-06).
say "browser tests without the lab (Playwright, Debian Chromium), in the background"
(timed "browser tests without the lab (Playwright)" tagged browser env E2E_NO_LAB=1 npx playwright test) &
browser_tests=$!
say "kernel tests with a panel (vitest --project kernel-panel, one file at a time), then the browser tests on the local lab, in the background"
# The two namespace projects use different namespace prefixes and management subnets (vitest.config.ts).
# The lab's specs come after the `kernel-panel` tests, not beside them: the lab's panel runs on the embedded
# database, in the process that serves the pages, beside the lab's agents and traffic, and with every lane
# at once its saved edits timed out and the lab specs failed one after the other (load average 20). On its
# own panel (E2E_LAB_ONLY=1, no idle PostgreSQL panel beside it) the run costs under a core (111 CPU-s in
# 131 s, 2026-12-06).
panel_then_lab() {
  local result=0
  timed "vitest kernel-panel" tagged kernel-panel npx vitest run --project kernel-panel || result=1
  timed "browser tests on the lab (Playwright)" tagged browser-lab env E2E_LAB_ONLY=1 npx playwright test || result=1
  return "$result"
}
panel_then_lab &
panel_lab_tests=$!
# ESLint goes on beside the browser tests: they need only the build, and waiting for it cost their
# lane 40-50 s on 2026-12-06 (ESLint ended that long after the build).
wait "$lint" || status=1
wait "$kernel_tests" || status=1
wait "$kernel_converge_tests" || status=1
# Three files at a time here (two by default): the other lanes end while it runs, and with two it left a
# fifth of the machine idle for its last three minutes (2026-12-06).
say "unit and integration tests (vitest --project host, three files at a time)"
timed "vitest host" tagged host npx vitest run --project host --maxWorkers=3 || status=1
wait "$browser_tests" || status=1
wait "$panel_lab_tests" || status=1
# A safety net for the machine, not for the result: the lab tests check their own cleanup.
if [ "$(id -u)" = 0 ]; then
  npm run -s lab:down >/dev/null 2>&1 || true
  TULA_LAB_PREFIX=pwlab npm run -s lab:down >/dev/null 2>&1 || true
fi

[ "$status" -eq 0 ] || failures
summary
if [ "$status" -eq 0 ]; then say "all suites passed"; else say "some suites FAILED (see above)"; fi
exit "$status"
