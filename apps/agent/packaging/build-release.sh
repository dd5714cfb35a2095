#!/bin/sh
# Builds the agent's release files into apps/agent/dist/release (what the panel
# serves under /download):
#   tula-agent-linux-<arch>      a Node.js single executable application: the
#                                agent bundled to one CommonJS file (Node 20's SEA
#                                takes CommonJS) and injected into a copy of a
#                                node binary of the version running this script
#                                (this one, or the registry's for another
#                                architecture), so hosts need no Node.js of their own
#   tula-agent-linux-<arch>.deb  that binary, the systemd unit and
#                                /etc/default/tula-agent, built with dpkg-deb
#   tula-agent.service, tula-agent.default
#                                the unit and settings, for hosts without dpkg
#   install.sh                   the install script (the panel fills in its URL)
# Architectures (<arch> is x64 or arm64; --arch, default this machine's):
#   --arch x64, --arch arm64  that one (both may be given)
#   --arch all                this machine's, then every other one whose Node.js
#                             binary the npm registry has for this exact Node.js
#                             version; one it cannot fetch is left out, with a warning
# A foreign architecture's node binary comes from the npm package
# node-linux-<arch>@<this node's version> (npm pack checks its integrity; cached
# in node_modules/.cache/tula-agent-node). The blob injected into it is the same
# as for this machine: without "useCodeCache" and "useSnapshot" a SEA blob holds
# only the bundled script, which any platform's node of the same version runs
# (Node's single-executable-applications documentation). Where
# qemu-<arch>-static and the cross C libraries (/usr/aarch64-linux-gnu,
# Debian's libc6-arm64-cross, libstdc++6-arm64-cross) are installed, the
# foreign binary is run once to check it; elsewhere that check is skipped, said so.
# --if-stale: do nothing for an architecture whose binary is newer than every
# source it holds (tests call it so, under a lock).
# --binary-only: the single executable alone, no .deb (tests of upgrades).
# Environment (tests of upgrades build an older-numbered agent with them):
#   TULA_AGENT_VERSION  the version the agent reports instead of the product's
#   TULA_RELEASE_OUT    another output directory than apps/agent/dist/release
set -eu

here=$(cd "$(dirname "$0")" && pwd)
agent=$(cd "$here/.." && pwd)
repo=$(cd "$agent/../.." && pwd)
out="${TULA_RELEASE_OUT:-$agent/dist/release}"
work="$out.sea"
# A build-time constant: nothing at run time can change the version an agent reports.
version_define=''
if [ -n "${TULA_AGENT_VERSION:-}" ]; then
  case "$TULA_AGENT_VERSION" in *[!A-Za-z0-9.+~-]*) echo "build-release: TULA_AGENT_VERSION takes letters, digits and . + ~ - only" >&2; exit 1 ;; esac
  version_define="--define:__TULA_AGENT_VERSION__=\"$TULA_AGENT_VERSION\""
fi

host_arch=''
case "$(uname -m)" in
  x86_64) host_arch=x64 ;;
  aarch64 | arm64) host_arch=arm64 ;;
esac

if_stale=0 binary_only=0 arches='' all=0
while [ $# -gt 0 ]; do
  case "$1" in
    --if-stale) if_stale=1; shift ;;
    --binary-only) binary_only=1; shift ;;
    --arch)
      [ $# -ge 2 ] || { echo "build-release: --arch needs x64, arm64 or all" >&2; exit 2; }
      case "$2" in
        x64 | arm64) arches="$arches $2" ;;
        all) all=1 ;;
        *) echo "build-release: --arch takes x64, arm64 or all, not $2" >&2; exit 2 ;;
      esac
      shift 2 ;;
    *) echo "build-release: unknown option $1 (--if-stale, --binary-only, --arch x64|arm64|all)" >&2; exit 2 ;;
  esac
done
if [ $all = 1 ]; then
  arches="$host_arch"
  for a in x64 arm64; do [ "$a" = "$host_arch" ] || arches="$arches $a"; done
elif [ -z "$arches" ]; then
  [ -n "$host_arch" ] || { echo "build-release: no single executable for $(uname -m): name one with --arch x64|arm64" >&2; exit 1; }
  arches="$host_arch"
fi

node_version=$(node -p process.versions.node)
cache="$repo/node_modules/.cache/tula-agent-node"

# The ELF machine of a file: 62 for x86-64, 183 for AArch64.
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }
machine_of() { case "$1" in x64) echo 62 ;; arm64) echo 183 ;; esac; }

# Prints the path of a Node.js binary of this version for architecture $1, or
# fails with the reason on stderr.
node_binary() {
  if [ "$1" = "$host_arch" ]; then command -v node; return; fi
  dir="$cache/node-linux-$1-$node_version"
  if [ ! -x "$dir/bin/node" ]; then
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    npm pack --silent --pack-destination "$dir.tmp" "node-linux-$1@$node_version" >"$dir.tmp/npm.log" 2>&1 ||
      { echo "build-release: npm could not fetch node-linux-$1@$node_version: $(tail -n 3 "$dir.tmp/npm.log")" >&2; rm -rf "$dir.tmp"; return 1; }
    tar -xzf "$dir.tmp/node-linux-$1-$node_version.tgz" -C "$dir.tmp" package/bin/node &&
      mkdir -p "$dir/bin" && mv "$dir.tmp/package/bin/node" "$dir/bin/node" && rm -rf "$dir.tmp" ||
      { echo "build-release: node-linux-$1@$node_version holds no bin/node" >&2; rm -rf "$dir.tmp"; return 1; }
  fi
  [ "$(elf_machine "$dir/bin/node")" = "$(machine_of "$1")" ] ||
    { echo "build-release: $dir/bin/node is not a linux-$1 executable" >&2; return 1; }
  echo "$dir/bin/node"
}

# Runs the single executable $2 for architecture $1 with the remaining arguments:
# natively, or under qemu-user for a foreign one. Exit status 127: cannot run here.
run_binary() {
  a=$1 bin=$2; shift 2
  if [ "$a" = "$host_arch" ]; then "$bin" "$@"; return; fi
  case "$a" in x64) q=x86_64 t=x86_64-linux-gnu ;; arm64) q=aarch64 t=aarch64-linux-gnu ;; esac
  command -v "qemu-$q-static" >/dev/null 2>&1 && [ -d "/usr/$t/lib" ] || return 127
  "qemu-$q-static" -L "/usr/$t" "$bin" "$@"
}

stale() {
  binary="$out/tula-agent-linux-$1"
  [ $if_stale = 0 ] || [ ! -f "$binary" ] || { [ $binary_only = 0 ] && [ ! -f "$out/tula-agent-linux-$1.deb" ]; } ||
    [ -n "$(find "$agent/src" "$here" "$repo/packages/nft/src" "$repo/packages/protocol/src" "$repo/package-lock.json" -newer "$binary" -type f | head -n 1)" ]
}
todo=''
for a in $arches; do if stale "$a"; then todo="$todo $a"; fi; done
[ -n "$todo" ] || exit 0

rm -rf "$work" && mkdir -p "$work" "$out"
# ws tries its optional native add-ons (bufferutil, utf-8-validate) with require();
# a single executable can require built-in modules only, so it is told not to.
esbuild="$agent/node_modules/.bin/esbuild"
[ -x "$esbuild" ] || esbuild="$repo/node_modules/.bin/esbuild"
"$esbuild" "$agent/src/cli.ts" --bundle --platform=node --target=node20 --format=cjs \
  --define:process.env.WS_NO_BUFFER_UTIL='"1"' --define:process.env.WS_NO_UTF_8_VALIDATE='"1"' \
  $version_define --log-level=warning --outfile="$work/tula-agent.cjs"
# No code cache, no snapshot: the blob is the same for every architecture.
cat > "$work/sea-config.json" <<JSON
{ "main": "$work/tula-agent.cjs", "output": "$work/tula-agent.blob", "disableExperimentalSEAWarning": true, "useCodeCache": false, "useSnapshot": false }
JSON
node --experimental-sea-config "$work/sea-config.json" >/dev/null
version=$(node "$work/tula-agent.cjs" --version) || { echo "build-release: the bundled agent does not run" >&2; exit 1; }
postject="$agent/node_modules/.bin/postject"
[ -x "$postject" ] || postject="$repo/node_modules/.bin/postject"

# Builds the release files of architecture $1 from the node binary $2.
build() {
  arch=$1
  case "$arch" in x64) debarch=amd64 ;; arm64) debarch=arm64 ;; esac
  binary="$out/tula-agent-linux-$arch"
  cp "$2" "$work/tula-agent"
  "$postject" "$work/tula-agent" NODE_SEA_BLOB "$work/tula-agent.blob" \
    --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >"$work/postject.log" 2>&1 ||
    { cat "$work/postject.log" >&2; exit 1; }
  chmod 0755 "$work/tula-agent"
  status=0
  ran=$(run_binary "$arch" "$work/tula-agent" --version) || status=$?
  if [ $status = 127 ] && [ "$arch" != "$host_arch" ]; then
    echo "build-release: linux-$arch binary not run here (no qemu-user-static with the $arch C libraries): not checked" >&2
  elif [ $status != 0 ] || [ "$ran" != "$version" ]; then
    echo "build-release: the linux-$arch binary does not run (exit $status, printed \"$ran\", expected \"$version\")" >&2
    exit 1
  fi
  mv "$work/tula-agent" "$binary"
  [ $binary_only = 0 ] || return 0

  # The Debian package.
  pkg="$work/deb"
  rm -rf "$pkg"
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/tula-agent" "$pkg/lib/systemd/system" "$pkg/etc/default"
  # The binary lives in its own directory, the one place the unit lets the agent
  # write to (it replaces itself when the panel asks it to upgrade: docs/upgrades.md).
  cp "$binary" "$pkg/usr/lib/tula-agent/tula-agent"
  ln -s ../lib/tula-agent/tula-agent "$pkg/usr/bin/tula-agent"
  cp "$here/tula-agent.service" "$pkg/lib/systemd/system/tula-agent.service"
  cp "$here/tula-agent.default" "$pkg/etc/default/tula-agent"
  cp "$here/deb/postinst" "$here/deb/prerm" "$pkg/DEBIAN/"
  chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm"
  echo /etc/default/tula-agent > "$pkg/DEBIAN/conffiles"
  cat > "$pkg/DEBIAN/control" <<CONTROL
Package: tula-agent
Version: $version
Architecture: $debarch
Maintainer: Tula <tula@localhost>
Depends: nftables, iproute2
Recommends: iputils-arping, bird2, keepalived
Section: net
Priority: optional
Installed-Size: $(du -sk "$pkg/usr" | cut -f1)
Description: Tula host agent for DSR load balancers and backends
 Converges this host's nftables rules, routes, tunnel devices and sysctls to
 the desired state its Tula control panel sends, and reports counters.
CONTROL
  # xz at level 1: the package is one 100 MB executable, which xz's default level 6
  # takes about 45 s of CPU to pack for 14% less than level 1 does in 6 s (23.9 MB
  # against 27.3 MB, measured 2026-12-06); every dpkg reads xz.
  dpkg-deb --root-owner-group -Zxz -z1 --build "$pkg" "$out/tula-agent-linux-$arch.deb" >/dev/null
}

for a in $todo; do
  if node_bin=$(node_binary "$a"); then
    build "$a" "$node_bin"
  elif [ $all = 1 ] && [ "$a" != "$host_arch" ]; then
    # Only --arch all leaves an architecture out; one asked for by name must build.
    echo "build-release: warning: no linux-$a files in this release (see above)" >&2
  else
    exit 1
  fi
done
# The plain binary's companions, for hosts without dpkg (install.sh installs them).
cp "$here/tula-agent.service" "$here/tula-agent.default" "$here/install.sh" "$out/"
rm -rf "$work"
[ $binary_only = 1 ] || ls -l "$out"
