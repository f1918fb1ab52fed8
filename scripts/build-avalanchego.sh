#!/usr/bin/env bash
# Builds an AvalancheGo node binary from the Go module proxy, without cloning its repository.
#
#   scripts/build-avalanchego.sh            # AVALANCHEGO_VERSION, default v1.14.2
#   AVALANCHEGO_VERSION=v1.14.0 scripts/build-avalanchego.sh
#
# The result is cached outside the repository, in
#   ${KVVM_CACHE:-$HOME/.cache/kvvm}/avalanchego/<version>/avalanchego
# and an existing binary is reused (delete it, or set KVVM_REBUILD=1, to build again).
# The last line printed is the binary's path.
#
# Why a wrapper module: since v1.14.1 AvalancheGo's go.mod has replace directives (./graft/* and a
# genproto workaround), so `go install github.com/ava-labs/avalanchego/main@vX` is refused. A small
# module that requires avalanchego at the version, copies its non-local replace directives and
# names the main package as a tool builds the same program; the graft/* modules are tagged at the
# same commit and come from the proxy. v1.14.0 has no replace directives and works the same way.
set -euo pipefail

VERSION="${AVALANCHEGO_VERSION:-v1.14.2}"
CACHE="${KVVM_CACHE:-$HOME/.cache/kvvm}"
OUT_DIR="$CACHE/avalanchego/$VERSION"
BIN="$OUT_DIR/avalanchego"
MODULE=github.com/ava-labs/avalanchego

log() { echo "build-avalanchego: $*" >&2; }

if [ -x "$BIN" ] && [ -z "${KVVM_REBUILD:-}" ]; then
  log "AvalancheGo $VERSION already built"
  echo "$BIN"
  exit 0
fi

# A C compiler for cgo (blst, firewood's FFI).
if ! command -v gcc >/dev/null 2>&1; then
  log "installing gcc (cgo needs a C compiler)"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq gcc libc6-dev >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  log "Go is missing: install Go >= 1.25.8 (https://go.dev/doc/install, or a Debian/backports"
  log "golang package new enough) and put it on PATH, then re-run"
  exit 1
fi

# Only the module proxy is needed; keep the user's GOPROXY/GOFLAGS otherwise.
export GOFLAGS="${GOFLAGS:-} -mod=mod"

mkdir -p "$OUT_DIR"
WORK="$OUT_DIR/wrapper"
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"

# Fetch avalanchego's own go.mod (at $VERSION) from the proxy to learn its Go version and replaces.
# A throw-away go.mod lets `go mod download` run inside this directory.
printf 'module kvvm.local/avalanchego-build\n\ngo 1.24\n' >go.mod
dl_json="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION")" || {
  log "could not download $MODULE@$VERSION from the module proxy"
  echo "$dl_json" >&2
  exit 1
}
upstream_mod="$(printf '%s\n' "$dl_json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[ -f "$upstream_mod" ] || {
  log "no go.mod for $MODULE@$VERSION in the module cache"
  exit 1
}

need_go="$(awk '$1 == "go" { print $2; exit }' "$upstream_mod")"
have_go="$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null | sed 's/^go//')"
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
if version_ge "$have_go" "$need_go"; then
  export GOTOOLCHAIN=local
else
  log "local Go $have_go is older than the $need_go AvalancheGo $VERSION needs;"
  log "letting GOTOOLCHAIN=auto fetch go$need_go from the module proxy"
  export GOTOOLCHAIN=auto
fi

# Non-local replace directives (single-line and block form), e.g. the genproto workaround.
# Local ones (=> ./graft/...) are dropped: those modules come from the proxy at the same tag.
replaces="$(awk '
  /^replace[[:space:]]*\($/ { inblock = 1; next }
  inblock && /^\)/ { inblock = 0; next }
  inblock { line = $0 }
  !inblock && /^replace[[:space:]]/ { line = $0; sub(/^replace[[:space:]]+/, "", line) }
  line != "" {
    sub(/\/\/.*/, "", line)
    n = split(line, parts, "=>")
    if (n == 2) {
      target = parts[2]; gsub(/^[[:space:]]+|[[:space:]]+$/, "", target)
      if (target !~ /^\.\.?\// && target !~ /^\//) {
        src = parts[1]; gsub(/^[[:space:]]+|[[:space:]]+$/, "", src)
        print "replace " src " => " target
      }
    }
    line = ""
  }
' "$upstream_mod")"

{
  printf 'module kvvm.local/avalanchego-build\n\ngo %s\n\n' "$need_go"
  printf 'require %s %s\n\n' "$MODULE" "$VERSION"
  printf 'tool %s/main\n' "$MODULE"
  if [ -n "$replaces" ]; then printf '\n%s\n' "$replaces"; fi
} >go.mod
log "wrapper module for AvalancheGo $VERSION (Go $need_go, $(go version | awk '{print $3}'))"
[ -z "$replaces" ] || log "copied: $replaces"

start=$(date +%s)
log "go mod tidy"
go mod tidy
log "go build (cgo; this takes several minutes on 2 cores)"
tmp_bin="$OUT_DIR/.avalanchego.tmp"
CGO_ENABLED=1 CGO_CFLAGS="-O2 -D__BLST_PORTABLE__" \
  go build -o "$tmp_bin" "$MODULE/main"
mv -f "$tmp_bin" "$BIN"
log "built in $(($(date +%s) - start)) s: $("$BIN" --version)"
echo "$BIN"
