#!/bin/sh
# Installs, enrolls and starts the Tula agent, or upgrades it in place when run
# again. Served by the Tula panel at /install.sh, with the panel's address
# filled in below:
#   curl -fsSL https://panel.example/install.sh | sudo sh -s -- --token TOKEN
# Options:
#   --token TOKEN   enrollment token (Fleet > Add a node); not needed to upgrade
#   --name NAME     node name in the panel (default: the short host name)
#   --server URL    another panel than the one that served this script
#   --insecure      the panel is plain http:// on another host (an isolated lab
#                   network): the agent's credential crosses it unencrypted
#   --no-systemd    do not use systemd: run the unit's commands directly, in the
#                   background (also chosen when systemd is not running)
# Environment:
#   TULA_INSTALL_ROOT  install under this directory instead of / (tests); implies
#                      the plain binary rather than the Debian package
set -eu

server='@TULA_PUBLIC_URL@'
token=''
name=''
use_systemd=auto
insecure=0
root="${TULA_INSTALL_ROOT:-}"
root="${root%/}"

say() { printf 'tula-agent install: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --token) [ $# -ge 2 ] || die "--token needs a value"; token="$2"; shift 2 ;;
    --name) [ $# -ge 2 ] || die "--name needs a value"; name="$2"; shift 2 ;;
    --server) [ $# -ge 2 ] || die "--server needs a value"; server="${2%/}"; shift 2 ;;
    --insecure) insecure=1; shift ;;
    --no-systemd) use_systemd=no; shift ;;
    *) die "unknown option $1 (options: --token TOKEN, --name NAME, --server URL, --insecure, --no-systemd)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "run me as root (curl ... | sudo sh -s -- ...)"
[ "$(uname -s)" = Linux ] || die "the agent runs on Linux only"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no agent build for $(uname -m)" ;;
esac
for tool in curl sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: install it first"
done
if [ "$use_systemd" = auto ]; then
  if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then use_systemd=yes; else use_systemd=no; fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Downloads a file of the panel's /download and checks it against SHA256SUMS.
fetch() {
  curl -fsS --retry 3 -o "$tmp/$1" "$server/download/$1" || die "cannot download $server/download/$1"
  grep "  $1\$" "$tmp/SHA256SUMS" > "$tmp/$1.sum" || die "$1 is not in the panel's SHA256SUMS"
  (cd "$tmp" && sha256sum -c --quiet "$1.sum" >/dev/null 2>&1) || die "$1 does not match its SHA-256: download interrupted or altered; nothing was installed"
}
curl -fsS --retry 3 -o "$tmp/SHA256SUMS" "$server/download/SHA256SUMS" ||
  die "cannot reach the panel's downloads at $server/download (is the panel's public URL, TULA_PUBLIC_URL, reachable from here?)"

unit="$root/etc/systemd/system/tula-agent.service"
defaults="$root/etc/default/tula-agent"
binary="$root/usr/bin/tula-agent"
# The binary's own directory: the one the unit lets the agent write, to replace
# itself when the panel asks it to upgrade. /usr/bin/tula-agent links to it.
libdir="$root/usr/lib/tula-agent"
if [ -z "$root" ] && command -v dpkg >/dev/null 2>&1; then
  fetch "tula-agent-linux-$arch.deb"
  if command -v apt-get >/dev/null 2>&1; then
    # apt installs what the package depends on (nftables, iproute2) as well.
    chmod 0755 "$tmp"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$tmp/tula-agent-linux-$arch.deb" >&2 ||
      die "apt-get could not install the agent (see above)"
  else
    dpkg -i "$tmp/tula-agent-linux-$arch.deb" >&2 ||
      die "dpkg could not install the agent (missing nftables or iproute2? install them, then run me again)"
  fi
  unit=/lib/systemd/system/tula-agent.service
else
  fetch "tula-agent-linux-$arch"
  fetch tula-agent.service
  fetch tula-agent.default
  mkdir -p "$root/usr/bin" "$libdir" "$root/etc/systemd/system" "$root/etc/default"
  # Replaced by rename: the running agent keeps its old file until it restarts.
  cp "$tmp/tula-agent-linux-$arch" "$libdir/tula-agent.new" && chmod 0755 "$libdir/tula-agent.new" && mv -f "$libdir/tula-agent.new" "$libdir/tula-agent"
  if [ ! -L "$binary" ]; then ln -s ../lib/tula-agent/tula-agent "$binary.new" && mv -f "$binary.new" "$binary"; fi
  cp "$tmp/tula-agent.service" "$unit"
  [ -f "$defaults" ] || cp "$tmp/tula-agent.default" "$defaults"
fi

# Settings: the panel's address, and (under an install root) the state directory inside it.
set_default() {
  if grep -q "^$1=" "$defaults"; then sed -i "s|^$1=.*|$1=$2|" "$defaults"; else printf '%s=%s\n' "$1" "$2" >> "$defaults"; fi
}
case "$server" in http://* | https://*) ;; *) die "the panel URL must start with http:// or https://: $server" ;; esac
# It goes into sed and the environment file: letters, digits and . _ ~ : / % @ [ ] - only.
case "$server" in *[!]A-Za-z0-9._~:/%@[-]*) die "the panel URL has characters this script does not take: $server" ;; esac
set_default TULA_SERVER "$server"
set_default TULA_AGENT_INSECURE "$insecure"
[ -z "$root" ] || set_default TULA_AGENT_STATE_DIR "$root/var/lib/tula-agent"

# The unit's environment, for the commands run here.
set -a
. "$defaults"
set +a

version=$("$binary" --version) || die "the downloaded agent does not run on this host"
if [ -n "$token" ]; then
  if [ -n "$name" ]; then "$binary" enroll --server "$server" --token "$token" --name "$name"; else "$binary" enroll --server "$server" --token "$token"; fi
elif [ ! -f "$TULA_AGENT_STATE_DIR/credential.json" ]; then
  die "this host is not enrolled yet: run me with --token TOKEN (the panel: Fleet > Add a node)"
fi

if [ "$use_systemd" = yes ]; then
  systemctl daemon-reload
  systemctl enable tula-agent.service >/dev/null 2>&1
  # Type=notify: this returns once the agent applied its first desired state.
  systemctl restart tula-agent.service || die "the agent did not start: journalctl -u tula-agent -n 50"
  say "tula-agent $version is running (systemctl status tula-agent; journalctl -u tula-agent)"
  exit 0
fi

# No systemd: run the unit's ExecStartPre and ExecStart as systemd would (its
# environment, its capability bounding set), the agent in the background.
pidfile="$root/run/tula-agent.pid"
log="$root/var/log/tula-agent.log"
mkdir -p "$root/run" "$root/var/log" "$TULA_AGENT_STATE_DIR"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  old=$(cat "$pidfile")
  say "stopping the running agent (pid $old) to upgrade it; the kernel keeps forwarding meanwhile"
  kill "$old"
  i=0
  while kill -0 "$old" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 100 ] || die "the running agent (pid $old) does not stop"; sleep 0.1
  done
fi
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
command -v setpriv >/dev/null 2>&1 || { caps=''; say "setpriv (util-linux) is missing: the agent runs with all of root's capabilities"; }
# The words of the unit's command line $1, one a line, behind setpriv limiting
# it to the unit's capability bounding set.
unit_words() {
  [ -z "$caps" ] || printf '%s\n' setpriv --no-new-privs --bounding-set "-all,$caps" --inh-caps "-all,$caps" --ambient-caps "-all,$caps"
  sed -n "s/^$1=//p" "$unit" | tr ' ' '\n' | sed "s|^/usr/bin/tula-agent\$|$binary|"
}
newline='
'
IFS=$newline
# shellcheck disable=SC2046 # split on newlines only
set -- $(unit_words ExecStartPre)
unset IFS
"$@" || die "the configuration check failed (see above); nothing was started"
rm -f "$TULA_AGENT_STATE_DIR/status.json"
IFS=$newline
# shellcheck disable=SC2046
set -- $(unit_words ExecStart)
unset IFS
# The agent writes its pid there, also when it restarts itself after an upgrade;
# it is not systemd's service, whatever this shell inherited (src/restart.ts).
unset INVOCATION_ID NOTIFY_SOCKET
TULA_AGENT_PID_FILE="$pidfile" nohup "$@" >>"$log" 2>&1 </dev/null &
pid=$!
echo "$pid" > "$pidfile"
# Ready as under Type=notify: once the first desired state was applied or refused.
i=0
until grep -q '"appliedAt"\|"lastError"' "$TULA_AGENT_STATE_DIR/status.json" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || die "the agent stopped: see $log"
  i=$((i + 1)); [ $i -le 600 ] || die "the agent did not apply a desired state within 60 s: see $log"
  sleep 0.1
done
say "tula-agent $version is running without systemd (pid $pid, log $log)"
