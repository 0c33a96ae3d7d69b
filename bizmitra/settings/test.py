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

from bizmitra.settings.base import *  # noqa: E402,F403
from bizmitra.settings.base import DATABASES  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": os.environ.get("BIZMITRA_TEST_DB", f"test_bizmitra_{_RUN_ID}")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]
