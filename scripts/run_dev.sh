#!/usr/bin/env bash
# `make run`: find or start PostgreSQL and Redis, migrate, create the demo tenant,
# then run web (granian), realtime (daphne), worker, beat and the Graph API
# sandbox together in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
bash scripts/system_packages.sh

eval "$(python scripts/services.py --database bizmitra --create-database)"
export DJANGO_SETTINGS_MODULE=bizmitra.settings.base
export WEB_PORT="${WEB_PORT:-8000}" REALTIME_PORT="${REALTIME_PORT:-8001}" SANDBOX_PORT="${SANDBOX_PORT:-8090}"
# The demo talks to the bundled Graph API sandbox, not to Meta.
export WHATSAPP_GRAPH_URL="${WHATSAPP_GRAPH_URL:-http://127.0.0.1:${SANDBOX_PORT}}"
export LIVE_WEBSOCKET_URL="${LIVE_WEBSOCKET_URL:-ws://{host}:${REALTIME_PORT}/ws/inbox/}"

echo "[run] migrating the public schema and every tenant"
python manage.py migrate_schemas --shared -v 0
python manage.py migrate_schemas --tenant --executor=multiprocessing -v 0
python manage.py collectstatic --noinput -v 0
demo_json="$(python manage.py ensure_demo_tenant)"

python - "$demo_json" <<'PY'
import json, os, sys
d = json.loads(sys.argv[1])
web, rt, sb = os.environ["WEB_PORT"], os.environ["REALTIME_PORT"], os.environ["SANDBOX_PORT"]
print(f"""
================================================================
 BizMitra is starting (Ctrl-C stops everything)
   Demo dashboard : http://{d['domain']}:{web}/      login {d['owner_email']} / {d['owner_password']}
   Tenant admin   : http://{d['domain']}:{web}/admin/ (templates, flows, workflows)
   Platform admin : http://localhost:{web}/admin/    login {d['platform_admin']} / {d['platform_password']}
   API docs       : http://{d['domain']}:{web}/api/docs/
   Websockets     : ws://{d['domain']}:{rt}/ws/inbox/
   Graph sandbox  : http://127.0.0.1:{sb}/_sandbox/health   (client code {d['client_code']})
   Webhook        : http://127.0.0.1:{web}/webhooks/whatsapp/
================================================================
""", flush=True)
PY
exec honcho start -f Procfile
