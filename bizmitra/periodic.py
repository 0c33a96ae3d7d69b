"""One place that registers every app's periodic (celery beat) tasks.

django-celery-beat keeps the schedule in the database; each app owns a
``*_periodic_tasks_ensure()`` that creates or updates its rows idempotently.
They run after every migration of the public schema (so `make run`, the
docker/k8s migrate step and the test database all get them) and on demand with
``python manage.py ensure_periodic_tasks``.
"""

from django.db import connection
from django.utils.module_loading import import_string

PERIODIC_TASK_ENSURERS = (
    "conversations.services.outbound.outbound_periodic_tasks_ensure",
    "conversations.whatsapp.ingest.webhook_periodic_tasks_ensure",
    "workflows.services.workflow_periodic_tasks_ensure",
    "leads.services.leads_periodic_tasks_ensure",
    "conversations.engine.services.engine_periodic_tasks_ensure",
)


def periodic_tasks_ensure_all() -> list[str]:
    """Run every app's ensure function in the public schema; return the ones that ran."""
    connection.set_schema_to_public()
    done = []
    for path in PERIODIC_TASK_ENSURERS:
        import_string(path)()
        done.append(path)
    return done


def ensure_after_public_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate receiver: only for the public schema, once per migrate run."""
    if connection.schema_name != "public" or sender.name != "django_celery_beat":
        return
    periodic_tasks_ensure_all()
