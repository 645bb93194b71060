#!/usr/bin/env bash
# Build localhost/node-base:20, a stand-in for node:20-bookworm-slim on machines that can reach Debian's
# mirror but no image registry (DESIGN.md section 6): a debootstrap'd Debian bookworm (minbase) plus this
# machine's own Node 20 (binary, headers for node-gyp, npm), laid out like the official image.
#
#   bash scripts/ci-node-base.sh            # skips if the image already exists
#   FORCE=1 bash scripts/ci-node-base.sh    # rebuilds
#
# Env: NODE_BASE_IMAGE (default localhost/node-base:20), DEBIAN_MIRROR (default: the first deb.debian.org/
# debian URI configured for apt on this machine, else http://deb.debian.org/debian).
set -euo pipefail

IMAGE="${NODE_BASE_IMAGE:-localhost/node-base:20}"
SUITE=bookworm

log() { printf '[node-base] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
for tool in debootstrap buildah podman node; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y buildah debootstrap podman)"
done

if [ -z "${FORCE:-}" ] && buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE already exists (FORCE=1 to rebuild)"
  exit 0
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" = 20 ] || die "host node is v$(node -p process.versions.node); the image must carry Node 20"

if [ -z "${DEBIAN_MIRROR:-}" ]; then
  # Same mirror apt uses here (deb822 or one-line format); only the main archive, not -security.
  DEBIAN_MIRROR="$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -v security | head -n1 | tr -d ' ' || true)"
  DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi

work="$(mktemp -d /tmp/node-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

log "debootstrap --variant=minbase $SUITE from $DEBIAN_MIRROR"
debootstrap --variant=minbase "$SUITE" "$root" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 40 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

log "adding node $(node -p process.version), its headers and npm"
node_bin="$(readlink -f "$(command -v node)")"
install -m 0755 "$node_bin" "$root/usr/local/bin/node"
prefix="$(dirname "$(dirname "$node_bin")")"
[ -d "$prefix/include/node" ] || die "node headers not found at $prefix/include/node (node-gyp needs them offline)"
mkdir -p "$root/usr/local/include" "$root/usr/local/lib/node_modules"
cp -a "$prefix/include/node" "$root/usr/local/include/node"
npm_dir="$prefix/lib/node_modules/npm"
if [ -d "$npm_dir" ]; then
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
else
  log "warning: npm not found at $npm_dir; the image will have node only"
fi
chroot "$root" /usr/local/bin/node -e 'require("os")' || die "node does not run inside the rootfs"

# Keep the image lean, as the slim image does.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/var/log/* "$root"/tmp/*

log "importing as $IMAGE"
buildah rmi -f "$IMAGE" >/dev/null 2>&1 || true
tar --numeric-owner -C "$root" -c . \
  | podman import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["node"]' \
      - "$IMAGE" >/dev/null
buildah inspect --type image "$IMAGE" >/dev/null || die "import did not produce $IMAGE"
log "done: $IMAGE"
