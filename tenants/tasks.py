import redis
from celery import shared_task
from django.conf import settings
from django.db import connection


@shared_task
def tenant_probe_task(*, reply_key: str) -> str:
    """Operations probe: report which schema the worker ran this task in (to Redis)."""
    from conversations.models import Contact

    # Touch a tenant table so a task sent outside any tenant fails loudly here.
    count = Contact.objects.count()
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(reply_key, f"{connection.schema_name}:{count}", ex=300)
    return connection.schema_name
