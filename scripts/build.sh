#!/usr/bin/env bash
# Builds the dashboard (Vite → dashboard/dist/) and the worker (release, size-optimised, worker-build →
# build/worker/). Used by wrangler's [build] command and by the test script.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
vite build dashboard --logLevel warn
# The customer widget (one self-contained IIFE file, dist/widget.js) next to the dashboard.
vite build dashboard --config dashboard/vite.widget.config.ts --logLevel warn
worker-build --release
