"""The Celery app. Tasks run in the schema they were sent from (tenant-schemas-celery)."""

import os

from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun, worker_ready
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


# --- observability (issue 13 §5): request ids through task headers, Django's LOGGING, metrics ---


@setup_logging.connect(dispatch_uid="bizmitra.logging_from_django")
def logging_from_django(**kwargs) -> None:
    """Workers and beat log with Django's LOGGING (JSON, request and task ids), not Celery's format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@before_task_publish.connect(dispatch_uid="bizmitra.request_id_to_headers")
def request_id_to_headers(headers=None, **kwargs) -> None:
    from bizmitra.request_id import task_headers_add

    task_headers_add(headers)


@task_prerun.connect(dispatch_uid="bizmitra.log_context_enter")
def log_context_enter(task_id=None, task=None, **kwargs) -> None:
    from bizmitra.request_id import task_context_enter

    task_context_enter(task_id, task)


@task_postrun.connect(dispatch_uid="bizmitra.log_context_exit")
def log_context_exit(task_id=None, **kwargs) -> None:
    from bizmitra.request_id import task_context_exit

    task_context_exit(task_id)


@worker_ready.connect(dispatch_uid="bizmitra.worker_metrics")
def worker_metrics(**kwargs) -> None:
    """With METRICS_PORT set, the worker serves its processes' metrics (Kubernetes scrapes each pod)."""
    from django.conf import settings

    if settings.METRICS_PORT:
        from bizmitra.metrics import worker_metrics_serve

        worker_metrics_serve(port=settings.METRICS_PORT)
