# Shared by scripts/start.sh and scripts/test.sh. Sourced, not run.

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "'$*' needs root, and sudo is not installed"
  fi
}

require_node() {
  command -v node >/dev/null || die "Node.js 20.19 or newer is required: https://nodejs.org/"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "Node.js 20.19 or newer is required; this is $(node --version)"
}

# Installs the Debian packages that provide the given commands, if any is missing.
# Arguments are command:package pairs (or /path:package, for a file that is no command).
ensure_debian_packages() {
  local missing=() pair
  for pair in "$@"; do
    case "$pair" in
      /*) [ -e "${pair%%:*}" ] || missing+=("${pair#*:}") ;;
      *) command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}") ;;
    esac
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]}, and this is not a Debian-like system: install them by hand"
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm dependencies: a clean install from the lockfile when asked or when absent.
ensure_npm_dependencies() {
  if [ "${1:-}" = clean ] || [ ! -d node_modules ]; then
    say "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund --prefer-offline >/dev/null
  fi
}

export NEXT_TELEMETRY_DISABLED=1 TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
