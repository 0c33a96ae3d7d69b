"""Celery tasks of the workflows app: thin, take ids, safe to run twice."""

from celery import shared_task

from workflows.services import workflow_callback_deliver, workflow_dispatch_all, workflow_job_execute


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
