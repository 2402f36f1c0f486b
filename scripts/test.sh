#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, host unit tests of the domain logic, the dashboard's type check,
# the dashboard and release wasm builds,
# then the black-box tests (the built worker in workerd with local D1, loopback fakes of Google OAuth, Gmail
# and the LLM, and the dashboard in headless Chromium). Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
[ -d ../shared/corpus/eml ] || { echo "../shared/corpus/eml is missing: clone the repo beside shared/" >&2; exit 1; }

echo "== cargo fmt --check"; cargo fmt --check
echo "== cargo clippy"; cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test (host)"; cargo test --quiet
echo "== tsc (dashboard, strict)"; tsc -p dashboard --noEmit
echo "== build the worker"; bash scripts/build.sh >/dev/null
echo "== black-box tests (workerd + local D1 + fakes + Chromium)"
node --test --test-concurrency=1 tests/*.test.mjs
