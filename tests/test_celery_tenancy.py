import uuid

import pytest
import redis
from django.conf import settings
from django_tenants.utils import schema_context

from tenants.tasks import tenant_probe_task
from tests.support import wait_for

pytestmark = pytest.mark.worker


def test_task_runs_in_the_schema_it_was_sent_from(live_db, celery_worker):
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    replies = {}
    for schema in ("alpha", "beta"):
        key = f"probe:{uuid.uuid4()}"
        with schema_context(schema):
            tenant_probe_task.delay(reply_key=key)
        replies[schema] = key
    for schema, key in replies.items():
        value = wait_for(lambda key=key: client.get(key), timeout=20, what=f"probe reply for {schema}")
        assert value.startswith(f"{schema}:")
