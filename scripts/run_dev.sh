#!/usr/bin/env bash
# `make run`: find or start PostgreSQL and Redis, migrate, create the demo tenant,
# then run web (granian), realtime (daphne), worker, beat and the Graph API
# sandbox together in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
bash scripts/system_packages.sh

export DJANGO_SETTINGS_MODULE=bizmitra.settings.base
# Ports and database name can be overridden (tests/test_first_run.py runs a second copy).
export WEB_PORT="${WEB_PORT:-8000}" REALTIME_PORT="${REALTIME_PORT:-8001}" SANDBOX_PORT="${SANDBOX_PORT:-8090}"
# The demo talks to the bundled Graph API sandbox, not to Meta.
export WHATSAPP_GRAPH_URL="${WHATSAPP_GRAPH_URL:-http://127.0.0.1:${SANDBOX_PORT}}"
# Not inline in ${…:-…}: bash would end the default at the first "}" (the one of {host}).
default_ws_url="ws://{host}:${REALTIME_PORT}/ws/inbox/"
export LIVE_WEBSOCKET_URL="${LIVE_WEBSOCKET_URL:-$default_ws_url}"
# Metrics: every process below writes into one directory, emptied before any of them starts
# (bizmitra/metrics.py); one per web port, so a second copy (tests/test_first_run.py) has its own.
export PROMETHEUS_MULTIPROC_DIR="$PWD/var/prometheus/$WEB_PORT"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
export LOG_FORMAT="${LOG_FORMAT:-text}"

# Settings refuse bad values (e.g. LIVE_WEBSOCKET_URL); say which in one line, before anything starts.
if ! settings_error="$(python -c 'import django; django.setup()' 2>&1)"; then
  echo "[run] refusing to start: ${settings_error##*$'\n'}" >&2
  exit 1
fi

eval "$(python scripts/services.py --database "${BIZMITRA_DATABASE:-bizmitra}" --create-database)"

echo "[run] migrating the public schema and every tenant"
python manage.py migrate_schemas --shared -v 0
python manage.py migrate_schemas --tenant --executor=multiprocessing -v 0
# The schema new sign-ups are copied from (tenants/signup): ready before the first one.
python manage.py signup_template_ensure
python manage.py collectstatic --noinput -v 0
demo_json="$(python manage.py ensure_demo_tenant)"

python - "$demo_json" <<'PY'
import json, os, sys
d = json.loads(sys.argv[1])
web, rt, sb = os.environ["WEB_PORT"], os.environ["REALTIME_PORT"], os.environ["SANDBOX_PORT"]
# The key exists in clear only on the run that created it; it is printed once, like any key.
key = d["api_key"] or "(shown on the first run only; issue a new one: platform admin, API keys, Add)"
print(f"""
================================================================
 BizMitra is starting (Ctrl-C stops everything)
   Demo dashboard : http://{d['domain']}:{web}/      login {d['owner_email']} / {d['owner_password']}
   Tenant admin   : http://{d['domain']}:{web}/admin/ (templates, flows, workflows)
   Platform admin : http://localhost:{web}/admin/    login {d['platform_admin']} / {d['platform_password']}
   API docs       : http://{d['domain']}:{web}/api/docs/
   Websockets     : ws://{d['domain']}:{rt}/ws/inbox/
   Graph sandbox  : http://127.0.0.1:{sb}/_sandbox/health
   Webhook        : http://127.0.0.1:{web}/webhooks/whatsapp/
   Trigger API    : client code {d['client_code']}, API key {key}
----------------------------------------------------------------
 Fire a workflow trigger (POST /api/workflows/trigger):
   curl -s -X POST http://127.0.0.1:{web}/api/workflows/trigger \\
     -H 'X-Api-Key: {key if d['api_key'] else '<your key>'}' -H 'X-Client-Code: {d['client_code']}' \\
     -H 'Content-Type: application/json' \\
     -d '{{"trigger": "appointment_confirmed", "phone": "919876543210", "variables": {{"name": "Asha"}}}}'
 Write to the demo bot as a customer, then read what it answered (README: "Try it"):
   curl -s -X POST http://127.0.0.1:{sb}/_sandbox/inject -H 'Content-Type: application/json' \\
     -d '{{"phone_number_id": "{d['phone_number_id']}", "from": "919876543210", "text": "What are your prices?"}}'
   curl -s http://127.0.0.1:{sb}/_sandbox/messages
================================================================
""", flush=True)
PY
exec honcho start -f Procfile
