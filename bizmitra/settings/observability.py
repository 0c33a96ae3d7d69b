"""Observability settings (issue 13 §5): metrics, logs, request ids. Included at the end of base.py.

Imports no app. ``LOGGING`` here replaces base.py's: same tenant-schema filter, plus the
request/task context (``bizmitra.request_id.LogContextFilter``) and a JSON formatter
(python-json-logger) chosen by ``LOG_FORMAT``.
"""

import os
from pathlib import Path

import environ

env = environ.Env()

_BIZMITRA_ENV = env.str("BIZMITRA_ENV", default="development")
_BASE_DIR = Path(__file__).resolve().parent.parent.parent

# --- Prometheus --------------------------------------------------------------------------------
# When set, GET /metrics requires "Authorization: Bearer <METRICS_TOKEN>" (401 otherwise);
# empty: open (keep it behind the cluster network then).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Celery workers serve their own values on this port when set (Kubernetes: one scrape per pod).
METRICS_PORT = env.int("METRICS_PORT", default=0)
# Database gauges (dead letters, parked statuses) are counted at most this often per process.
METRICS_DB_CACHE_SECONDS = env.float("METRICS_DB_CACHE_SECONDS", default=30.0)
METRICS_DB_TIMEOUT_SECONDS = env.float("METRICS_DB_TIMEOUT_SECONDS", default=5.0)
# Estimated AI cost (bizmitra_ai_cost_usd_total); defaults are gpt-4o-mini's list prices.
AI_COST_PER_MILLION_PROMPT_TOKENS_USD = env.float("AI_COST_PER_MILLION_PROMPT_TOKENS_USD", default=0.15)
AI_COST_PER_MILLION_COMPLETION_TOKENS_USD = env.float("AI_COST_PER_MILLION_COMPLETION_TOKENS_USD", default=0.60)

if _BIZMITRA_ENV == "test" and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # One directory per test run, shared with the workers and servers it starts (they inherit
    # the environment): a worker's counters show in the test process's /metrics. Set here,
    # before any app module imports prometheus_client (bizmitra/metrics.py explains why).
    _metrics_dir = _BASE_DIR / "var" / "test-metrics" / os.environ.get("BIZMITRA_TEST_RUN_ID", str(os.getpid()))
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for _stale in _metrics_dir.glob("*.db"):
        _stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# --- request ids and logs ------------------------------------------------------------------
# Incoming X-Request-ID values are kept when they look like an id (1-128 of A-Z a-z 0-9 . _ : -),
# else replaced by a new one; the response always carries the id.
REQUEST_ID_HEADER = env.str("REQUEST_ID_HEADER", default="X-Request-ID")
# One "request" line per HTTP request (method, path, status, duration, request id).
ACCESS_LOG = env.bool("ACCESS_LOG", default=True)
# The webhook's request id is kept this long for the worker that processes its delivery.
REQUEST_ID_DELIVERY_TTL_SECONDS = env.int("REQUEST_ID_DELIVERY_TTL_SECONDS", default=24 * 3600)

# json: one JSON object per line (production, and tests, which read worker logs); text: for people.
LOG_FORMAT = env.str("LOG_FORMAT", default="") or ("json" if _BIZMITRA_ENV in ("production", "test") else "text")
if LOG_FORMAT not in ("json", "text"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not valid: use json or text.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "tenant_context": {"()": "django_tenants.log.TenantContextFilter"},
        # Text lines show "-" where no request or task is known; JSON leaves the field empty.
        "log_context": {
            "()": "bizmitra.request_id.LogContextFilter",
            "placeholder": "-" if LOG_FORMAT == "text" else "",
        },
    },
    "formatters": {
        "readable": {
            "format": "%(asctime)s %(levelname)-7s [%(schema_name)s] [%(request_id)s] %(name)s: %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["tenant_context", "log_context"],
            "formatter": "json" if LOG_FORMAT == "json" else "readable",
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
