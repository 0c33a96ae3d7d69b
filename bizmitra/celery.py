"""The Celery app. Tasks run in the schema they were sent from (tenant-schemas-celery)."""

import os

from celery.signals import task_postrun
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizmitra.settings.base")

app = CeleryApp("bizmitra")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every worker runs the webhook relay (NOTIFY → task); one of them leads at a time.
app.steps["worker"].add("conversations.whatsapp.relay:WebhookRelayStep")


@task_postrun.connect(dispatch_uid="bizmitra.close_unusable_db_connections")
def close_unusable_db_connections(**kwargs) -> None:
    """Django's end-of-request rule for worker tasks: drop broken or CONN_MAX_AGE-old connections.

    CELERY_DB_REUSE_MAX keeps connections across tasks; this keeps a broken one from failing
    the next tasks too.
    """
    from django.db import connections

    task = kwargs.get("task")
    if task is not None and getattr(task.request, "is_eager", False):
        return  # ran inline in the caller's transaction (tests, .apply()): not ours to close
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
