"""Celery tasks of the workflows app: thin, take ids, safe to run twice."""

from celery import shared_task
from django.db import DatabaseError

from workflows.services import workflow_callback_deliver, workflow_dispatch_all, workflow_job_execute
from workflows.services.lead_triggers import appointment_workflows_fire, lead_captured_workflows_fire


@shared_task(ignore_result=True)
def workflow_job_execute_task(*, job_id: str) -> None:
    """Run one job (sent in the tenant's schema with eta=next_run_at); a no-op unless it claims the row."""
    workflow_job_execute(job_id=job_id)


@shared_task(ignore_result=True)
def workflow_callback_deliver_task(*, job_id: str) -> None:
    workflow_callback_deliver(job_id=job_id)


@shared_task(ignore_result=True)
def workflow_dispatch_task() -> None:
    """Beat, every ~30 s, in the public schema: hand over jobs entering the horizon, recover lost ones."""
    workflow_dispatch_all()


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=5, retry_backoff_max=300, max_retries=5)
def appointment_workflows_fire_task(*, appointment_id: int, event: str, stamp: str = "") -> int:
    return len(appointment_workflows_fire(appointment_id=appointment_id, event=event, stamp=stamp))


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=5, retry_backoff_max=300, max_retries=5)
def lead_captured_workflows_fire_task(*, lead_id: int) -> int | None:
    return lead_captured_workflows_fire(lead_id=lead_id)


def dispatch_on_worker_ready(**kwargs) -> None:
    """A worker came up (first start, or a restart): run the dispatcher once, now.

    Jobs that came due while workers were down have no Celery message (or one that was lost);
    the dispatcher recovers them in seconds instead of at the next beat tick. Sent through
    the broker, in the public schema, like beat's; several workers starting at once are
    safe (the dispatcher claims rows with SKIP LOCKED, each job with a conditional UPDATE).
    Connected in ``WorkflowsConfig.ready``.
    """
    workflow_dispatch_task.delay()
