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
  qemu-system-x86 qemu-system-common qemu-system-data ovmf seabios isolinux syslinux-common busybox-static
  systemd-boot-efi zstd xz-utils grub-common grub-pc-bin grub-efi-amd64-bin chromium chromium-driver
  dracut-core)

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

debian_main_uri() {
  # The URI the machine already uses for Debian's main archive (the one whose
  # suites include bookworm), read from deb822 .sources files or one-line
  # .list files, so that no mirror's host name is written in this repository.
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""; FS="\n"} /Suites:[^\n]*bookworm( |$|\n)/ && !/-security/ {
           for (i=1;i<=NF;i++) if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, " "); print u[1]; exit } }' "$f"
  done | head -n1 | grep . && return 0
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1=="deb" && $0 ~ / bookworm / { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' | head -n1
}

setup_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "apt-get install ${missing[*]}"
  # The machine's qemu-utils is a bookworm backport (10.x); it Breaks the
  # qemu-system-common of plain bookworm (7.2), so the QEMU system packages
  # must come from the same backports suite.
  local qemu_target=()
  if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q 'bpo12'; then
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      local uri
      uri=$(debian_main_uri)
      [ -n "$uri" ] || { echo "error: no Debian archive URI in the machine's apt sources to derive bookworm-backports from" >&2; exit 1; }
      echo "deb $uri bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/imgforge-bookworm-backports.list >/dev/null
    fi
    qemu_target=(-t bookworm-backports)
  fi
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${qemu_target[@]}" \
    qemu-utils qemu-system-x86 qemu-system-common qemu-system-data
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
}

setup_inputs() {
  # A Debian kernel, systemd-boot, isolinux and a busybox rootfs for the
  # example recipes and the boot tests, unpacked from Debian packages
  # without installing them (examples/get-inputs.sh; idempotent).
  if [ ! -f examples/inputs/rootfs.tar ] || [ ! -f examples/inputs/vmlinuz ] || [ ! -f examples/inputs/initrd.img ] \
    || [ ! -f examples/inputs/grub-efi-amd64-bin.deb ] || [ ! -f examples/inputs/grub-pc-bin.deb ]; then
    log "fetching example inputs (examples/get-inputs.sh)"
    ./examples/get-inputs.sh >/dev/null
  fi
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
  setup_inputs
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
  log "BlobSource and the page↔worker protocol in a browser worker (web/tests, wasm-bindgen-test-runner + chromedriver)"
  (cd web && CHROMEDRIVER=/usr/bin/chromedriver CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test --release -p imgforge-web --target wasm32-unknown-unknown --test blob_source --test protocol)
  log "fmt and clippy"
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets -- -D warnings
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
