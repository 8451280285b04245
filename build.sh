#!/usr/bin/env bash
# imgforge build script: setup | build | test | serve | bench
# Every subcommand installs what it needs when missing, idempotently, so on a
# fresh machine `./build.sh serve` and `./build.sh test` are the whole set-up.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian packages the tests and boot tests use. qemu-utils is named so that
# installing qemu-system-x86 does not replace the preinstalled one;
# qemu-system-common is named so apt can resolve qemu-system-x86 beside it.
APT_PACKAGES=(qemu-utils gdisk fdisk dosfstools mtools e2fsprogs xorriso cpio genisoimage
  qemu-system-x86 qemu-system-common ovmf seabios isolinux syslinux-common busybox-static
  systemd-boot-efi chromium chromium-driver)

log() { echo "==> $*" >&2; }

wasm_bindgen_version() {
  # The exact wasm-bindgen version in Cargo.lock (the CLI must match it).
  awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock
}

setup_rust() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  [ -f Cargo.lock ] || cargo generate-lockfile
  local want have=""
  want=$(wasm_bindgen_version)
  if command -v wasm-bindgen >/dev/null 2>&1; then have=$(wasm-bindgen --version | awk '{print $2}'); fi
  if [ "$have" != "$want" ]; then
    log "cargo install wasm-bindgen-cli $want"
    cargo install wasm-bindgen-cli --version "$want" --locked || cargo install wasm-bindgen-cli --version "$want"
  fi
}

setup_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
  fi
}

setup_kernel() {
  # A Debian kernel for the boot tests, unpacked from its package without
  # installing it (faster than installing, and needs no initramfs-tools).
  local dir="$ROOT/target/boot-inputs"
  if ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then return; fi
  log "fetching a Debian kernel (apt-get download linux-image-6.1.*-amd64)"
  mkdir -p "$dir"
  local pkg
  pkg=$(apt-cache search --names-only '^linux-image-6\.1\.[0-9.-]*-amd64$' | awk '{print $1}' | sort -V | tail -n 1)
  [ -n "$pkg" ] || { echo "no linux-image-6.1.*-amd64 package found" >&2; exit 1; }
  (cd "$dir" && rm -f ./*.deb && apt-get download "$pkg" && dpkg-deb --fsys-tarfile ./*.deb | tar -x ./boot && rm -f ./*.deb)
}

setup_node() {
  if [ ! -d tests/node/node_modules/playwright-core ]; then
    log "npm install (tests/node)"
    (cd tests/node && npm install --no-audit --no-fund --loglevel=error)
  fi
}

cmd_setup() {
  setup_apt
  setup_rust
  setup_kernel
  setup_node
}

build_wasm() {
  log "building wasm (web and node targets)"
  cargo build --release -p imgforge-web --target wasm32-unknown-unknown
  local wasm=target/wasm32-unknown-unknown/release/imgforge_web.wasm
  wasm-bindgen --target web --no-typescript --out-dir www/pkg "$wasm"
  wasm-bindgen --target nodejs --no-typescript --out-dir target/wasm-node "$wasm"
}

cmd_build() {
  setup_rust
  log "building the CLI"
  cargo build --release -p imgforge-cli
  build_wasm
}

cmd_test() {
  cmd_setup
  cmd_build
  export IMGFORGE_BIN="$ROOT/target/release/imgforge"
  log "cargo test --workspace"
  cargo test --workspace --release
  log "wasm parity under node (tests/node/parity.mjs)"
  node tests/node/parity.mjs
  log "browser tests in chromium (tests/node/browser.mjs)"
  node tests/node/browser.mjs
  log "BlobSource in a browser worker (web/tests, wasm-bindgen-test-runner + chromedriver)"
  (cd web && CHROMEDRIVER=/usr/bin/chromedriver CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test --release -p imgforge-web --target wasm32-unknown-unknown --test blob_source)
  log "fmt and clippy"
  cargo fmt --all -- --check
}

cmd_serve() {
  cmd_build
  local port=${PORT:-8080}
  log "serving www/ on http://127.0.0.1:$port/"
  echo "http://127.0.0.1:$port/"
  exec python3 "$ROOT/tests/serve.py" "$ROOT/www" "$port"
}

cmd_bench() {
  cmd_setup
  cmd_build
  python3 bench/bench.py "$@"
}

case "${1:-}" in
  setup) cmd_setup ;;
  build) cmd_build ;;
  test) cmd_test ;;
  serve) cmd_serve ;;
  bench) shift; cmd_bench "$@" ;;
  *) echo "usage: $0 setup|build|test|serve|bench" >&2; exit 2 ;;
esac
