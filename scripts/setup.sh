#!/usr/bin/env bash
# Installs everything Edgedesk needs to build, run and test, idempotently: the wasm32 target, worker-build,
# wasm-bindgen-cli (the version Cargo.lock pins), npm packages (Node 22, wrangler, miniflare, binaryen,
# playwright-core) and Debian's Chromium. A warm machine skips every step in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

say() { printf '[setup] %s\n' "$*"; }

rustup target list --installed | grep -qx wasm32-unknown-unknown || { say "adding wasm32 target"; rustup target add wasm32-unknown-unknown; }

if [ "$(worker-build --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)" != "0.8.7" ]; then
  say "installing worker-build 0.8.7 (a few minutes, once)"
  cargo install worker-build --version 0.8.7
fi

want_wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want_wb" ]; then
  say "installing wasm-bindgen-cli $want_wb (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$want_wb"   # not --locked: its lockfile names a yanked crate
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund
fi

if ! command -v chromium >/dev/null 2>&1; then
  say "installing Chromium from Debian"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi
fi
say "ready: $(node --version), wrangler $(wrangler --version 2>/dev/null | tail -1), worker-build $(worker-build --version), wasm-bindgen $want_wb, $(chromium --version 2>/dev/null)"
