"""Test settings: real PostgreSQL and Redis, each test run isolated by its own names.

Several test runs (and pytest-xdist workers) may share this machine's PostgreSQL
and Redis at once; the database name, the Redis key prefix and the Celery queue
carry a run id so they never see each other's rows, keys or tasks. Child
processes (Celery workers, servers) inherit the run id through the environment.
"""

import os

os.environ.setdefault("BIZMITRA_ENV", "test")
_RUN_ID = os.environ.setdefault("BIZMITRA_TEST_RUN_ID", str(os.getpid()))
_SCOPE = f"{_RUN_ID}{os.environ.get('PYTEST_XDIST_WORKER', '')}"
os.environ.setdefault("REDIS_KEY_PREFIX", f"bizmitra-test-{_SCOPE}")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"bizmitra-test-{_SCOPE}")
# Outbound retries back off in tens of milliseconds here, not seconds (workers inherit it).
os.environ.setdefault("WHATSAPP_SEND_RETRY_BASE_SECONDS", "0.05")
os.environ.setdefault("WHATSAPP_SEND_RETRY_MAX_SECONDS", "0.5")
# Test hosts are shared and busy: leave more room for scheduling delays between the
# limiter's decision and the Graph sandbox's clock (conversations/ratelimit.py).
os.environ.setdefault("WHATSAPP_THROUGHPUT_SHARE", "0.8")
# Inbound media retries too; downloaded files go to a per-run directory.
os.environ.setdefault("WHATSAPP_MEDIA_RETRY_BASE_SECONDS", "0.2")
os.environ.setdefault("WHATSAPP_MEDIA_RETRY_MAX_SECONDS", "1")
# Test websites for the AI knowledge fetch are served on loopback (workers inherit it).
os.environ.setdefault("KNOWLEDGE_FETCH_ALLOW_PRIVATE", "true")
# Files sent by link are served by the tests' local HTTP servers, on loopback only (workers inherit it).
os.environ.setdefault("WHATSAPP_MEDIA_LINK_ALLOW_NETWORKS", "127.0.0.0/8,::1/128")
os.environ.setdefault(
    "MEDIA_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "var", "test-media", _RUN_ID))
)

# Abuse limits stay out of the way of the suite (servers and workers inherit them); the tests
# of the limits themselves (tests/test_security.py) set low ones per test.
os.environ.setdefault("LOGIN_FAILURE_LIMIT", "1000")
for _scope in ("USER", "API_KEY", "WORKFLOW_TRIGGER", "ANON"):
    os.environ.setdefault(f"API_RATE_{_scope}", "100000/minute")

from bizmitra.settings.base import *  # noqa: E402,F403
from bizmitra.settings.base import DATABASES  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": os.environ.get("BIZMITRA_TEST_DB", f"test_bizmitra_{_RUN_ID}")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]
