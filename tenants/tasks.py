import redis
from celery import shared_task
from django.conf import settings
from django.db import connection
from django_tenants.utils import get_public_schema_name

from tenants.models import Tenant


@shared_task
def tenant_probe_task(*, reply_key: str) -> str:
    """Operations probe: report which schema the worker ran this task in (to Redis), as
    ``<schema>:<tenant id>``. Sent outside any tenant it fails loudly: tenants is a shared
    app below every tenant app, so it checks the schema rather than touching their tables."""
    schema_name = connection.schema_name
    tenant_id = Tenant.objects.filter(schema_name=schema_name).values_list("pk", flat=True).first()
    if schema_name == get_public_schema_name() or tenant_id is None:
        raise RuntimeError(f"tenant_probe_task ran in {schema_name!r}, not in a tenant's schema")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(reply_key, f"{schema_name}:{tenant_id}", ex=300)
    return schema_name
