#!/usr/bin/env bash
# Builds the worker (release, size-optimised) into build/worker/ with worker-build. Used by wrangler's
# [build] command and by the test script.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
worker-build --release
