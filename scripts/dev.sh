#!/usr/bin/env bash
# Runs Edgedesk locally: installs what it needs, builds, applies the D1 migrations to local D1, and starts
# the worker with the dashboard on http://127.0.0.1:8787 (wrangler dev, real workerd).
#
# Without real Gmail credentials in .dev.vars (GMAIL_REFRESH_TOKEN), it also starts the demo mailbox: a
# Gmail-API-compatible server on 127.0.0.1:8790 loaded with ../shared/corpus/eml and tests/fixtures/eml, with a
# fake Google OAuth endpoint and a fake OpenAI-compatible LLM, and points the worker at it.
# Either way it fires the cron handler every 30 s (Cloudflare fires it on the [triggers] schedule).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

PORT="${PORT:-8787}"
DEMO_PORT="${DEMO_PORT:-8790}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap "exit 130" INT TERM

dev_var() { [ -f .dev.vars ] && grep -E "^$1=" .dev.vars | tail -1 | cut -d= -f2- | tr -d '"' || true; }

vars=()
persist=()
admin_email="$(dev_var ADMIN_EMAIL)"; admin_password="$(dev_var ADMIN_PASSWORD)"
if [ -z "$admin_email" ]; then
  admin_email="owner@demo.edgedesk.test"; admin_password="demo-password-123"
  vars+=(--var "ADMIN_EMAIL:$admin_email" --var "ADMIN_PASSWORD:$admin_password")
fi
[ -n "$(dev_var JWT_SECRET)" ] || vars+=(--var "JWT_SECRET:local-dev-only-jwt-secret-$(hostname)-0123456789")

if [ -z "$(dev_var GMAIL_REFRESH_TOKEN)" ]; then
  echo "No GMAIL_REFRESH_TOKEN in .dev.vars: starting the demo mailbox on 127.0.0.1:$DEMO_PORT"
  node tests/fakes/demo-mailbox.mjs --port "$DEMO_PORT" --mailbox support@demo.edgedesk.test \
    --eml-dir ../shared/corpus/eml --eml-dir tests/fixtures/eml &
  pids+=($!)
  demo="http://127.0.0.1:$DEMO_PORT"
  # The demo mailbox is new on every start, so its local D1 state is too (real-Gmail state stays in .wrangler/state).
  rm -rf .wrangler/demo-state
  persist=(--persist-to .wrangler/demo-state)
  vars+=(--var "GMAIL_API_BASE:$demo" --var "GOOGLE_TOKEN_URL:$demo/token" --var "GMAIL_CLIENT_ID:test-client-id"
         --var "GMAIL_CLIENT_SECRET:test-client-secret" --var "GMAIL_REFRESH_TOKEN:test-refresh-token"
         --var "GMAIL_ADDRESS:support@demo.edgedesk.test" --var "LLM_API_BASE:$demo/v1" --var "LLM_API_KEY:test-llm-key"
         --var "POLL_MAX_MESSAGES:100")
fi

wrangler d1 migrations apply DB --local "${persist[@]}"
wrangler dev --ip 127.0.0.1 --port "$PORT" --test-scheduled "${persist[@]}" "${vars[@]}" &
pids+=($!)

# Up when the API answers at all (health needs a token: 401 means the worker is serving).
for _ in $(seq 1 120); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/health")" != 000 ] && break; sleep 1
done
cat <<MSG

  Edgedesk is running:  http://127.0.0.1:$PORT/
  Log in as:            $admin_email / $admin_password
  The cron poll runs every 30 s; tickets and AI drafts appear within a minute.

MSG
while true; do
  curl -fsS "http://127.0.0.1:$PORT/__scheduled?cron=*/5+*+*+*+*" >/dev/null 2>&1 || true
  curl -fsS "http://127.0.0.1:$PORT/__scheduled?cron=*+*+*+*+*" >/dev/null 2>&1 || true   # phone/SMS sweep
  sleep 30
done
