#!/usr/bin/env bash
# Builds the worker and prints size and poll-cost figures (bench/poll.mjs) inbox query times (bench/inbox.mjs)
# TwiML answer latency under 50 concurrent webhooks (bench/twiml.mjs) and room relay latency / concurrent rooms
# (bench/rooms.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
source scripts/env.sh
bash scripts/build.sh >/dev/null
node bench/poll.mjs
node bench/inbox.mjs
node bench/twiml.mjs
node bench/rooms.mjs
