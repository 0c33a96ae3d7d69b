#!/usr/bin/env bash
# `make test`: the whole suite against real PostgreSQL and Redis (started if down).
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
bash scripts/system_packages.sh
eval "$(python scripts/services.py --database bizmitra)"
export DJANGO_SETTINGS_MODULE=bizmitra.settings.test
# --- issue 9 §4: the arrows between apps (pyproject.toml [tool.importlinter]); a new arrow the
# wrong way fails the run before any test starts (set -e).
lint-imports
set +e
python -m pytest "$@"
status=$?
set -e
# pytest's 5 means "no tests collected": that is a failure for us, not a pass.
exit $status
