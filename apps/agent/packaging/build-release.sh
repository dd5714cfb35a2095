#!/bin/sh
# Builds the agent's release files into apps/agent/dist/release (what the panel
# serves under /download):
#   tula-agent-linux-<arch>      a Node.js single executable application: the
#                                agent bundled to one CommonJS file (Node 20's SEA
#                                takes CommonJS) and injected into a copy of the
#                                node binary running this script, so hosts need
#                                no Node.js of their own
#   tula-agent-linux-<arch>.deb  that binary, the systemd unit and
#                                /etc/default/tula-agent, built with dpkg-deb
#   tula-agent.service, tula-agent.default
#                                the unit and settings, for hosts without dpkg
#   install.sh                   the install script (the panel fills in its URL)
# The architecture is this machine's: build on an arm64 host for arm64.
# --if-stale: do nothing when the binary is newer than every source it holds
# (tests call it so, under a lock).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
agent=$(cd "$here/.." && pwd)
repo=$(cd "$agent/../.." && pwd)
out="$agent/dist/release"
work="$agent/dist/sea"

case "$(uname -m)" in
  x86_64) arch=x64 debarch=amd64 ;;
  aarch64 | arm64) arch=arm64 debarch=arm64 ;;
  *) echo "build-release: no single executable for $(uname -m)" >&2; exit 1 ;;
esac

binary="$out/tula-agent-linux-$arch"
if [ "${1:-}" = --if-stale ] && [ -f "$binary" ] && [ -f "$out/tula-agent-linux-$arch.deb" ] &&
  [ -z "$(find "$agent/src" "$here" "$repo/packages/nft/src" "$repo/packages/protocol/src" "$repo/package-lock.json" -newer "$binary" -type f | head -n 1)" ]; then
  exit 0
fi

rm -rf "$work" && mkdir -p "$work" "$out"
# ws tries its optional native add-ons (bufferutil, utf-8-validate) with require();
# a single executable can require built-in modules only, so it is told not to.
esbuild="$agent/node_modules/.bin/esbuild"
[ -x "$esbuild" ] || esbuild="$repo/node_modules/.bin/esbuild"
"$esbuild" "$agent/src/cli.ts" --bundle --platform=node --target=node20 --format=cjs \
  --define:process.env.WS_NO_BUFFER_UTIL='"1"' --define:process.env.WS_NO_UTF_8_VALIDATE='"1"' \
  --log-level=warning --outfile="$work/tula-agent.cjs"
cat > "$work/sea-config.json" <<JSON
{ "main": "$work/tula-agent.cjs", "output": "$work/tula-agent.blob", "disableExperimentalSEAWarning": true }
JSON
node --experimental-sea-config "$work/sea-config.json" >/dev/null
cp "$(command -v node)" "$work/tula-agent"
postject="$agent/node_modules/.bin/postject"
[ -x "$postject" ] || postject="$repo/node_modules/.bin/postject"
"$postject" "$work/tula-agent" NODE_SEA_BLOB "$work/tula-agent.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >"$work/postject.log" 2>&1 ||
  { cat "$work/postject.log" >&2; exit 1; }
chmod 0755 "$work/tula-agent"
mv "$work/tula-agent" "$binary"
version=$("$binary" --version) || { echo "build-release: $binary does not run" >&2; exit 1; }

# The Debian package.
pkg="$work/deb"
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/default"
cp "$binary" "$pkg/usr/bin/tula-agent"
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
Recommends: iputils-arping
Section: net
Priority: optional
Installed-Size: $(du -sk "$pkg/usr" | cut -f1)
Description: Tula host agent for DSR load balancers and backends
 Converges this host's nftables rules, routes, tunnel devices and sysctls to
 the desired state its Tula control panel sends, and reports counters.
CONTROL
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out/tula-agent-linux-$arch.deb" >/dev/null
# The plain binary's companions, for hosts without dpkg (install.sh installs them).
cp "$here/tula-agent.service" "$here/tula-agent.default" "$here/install.sh" "$out/"
rm -rf "$work"
ls -l "$out"
