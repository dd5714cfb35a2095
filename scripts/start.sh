#!/usr/bin/env bash
# README command 1: installs what the control panel needs, builds it, and starts
# it on http://localhost:3000 (PORT overrides) with the embedded database unless
# DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

require_node
ensure_npm_dependencies
# The local lab needs nftables, iproute2 and bird2 (its router and balancers speak BGP); as root on
# a Debian-like system they are installed.
if [ "${TULA_LAB:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  ensure_debian_packages nft:nftables ip:iproute2 bird:bird2
fi
say "building the control panel"
npx turbo run build --filter=@tula/web --output-logs=errors-only
say "starting the control panel"
# As root on Linux with nftables, the panel also builds the local lab (TULA_LAB=0 turns it off).
exec env NODE_ENV=production TULA_LAB="${TULA_LAB:-1}" node apps/web/.next/tula-server.mjs
