"""Handing jobs to Celery: only those due within the horizon, each with ``eta=next_run_at``.

Celery messages are hints, the rows are the truth: a lost message (broker down at
enqueue, worker killed while holding an ETA task) is found by the dispatcher and
sent again, and a duplicate is harmless because execution claims the row first.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from workflows.conf import workflow_settings

logger = logging.getLogger(__name__)


def within_horizon(run_at: datetime, *, now: datetime) -> bool:
    return run_at <= now + timedelta(seconds=workflow_settings().handoff_horizon_seconds)


def jobs_enqueue(*, schema_name: str, items: Iterable[tuple[UUID | str, datetime]]) -> int:
    """Send one execution message per ``(job_id, run_at)``, in ``schema_name``. Returns how many went out."""
    from workflows.tasks import workflow_job_execute_task

    now = timezone.now()
    sent = 0
    for job_id, run_at in items:
        try:
            workflow_job_execute_task.apply_async(
                kwargs={"job_id": str(job_id)},
                eta=run_at if run_at > now else None,
                # Explicit, not connection.schema_name: on_commit may run after the caller left the schema.
                headers={"_schema_name": schema_name},
            )
            sent += 1
        except Exception:  # the broker is down: the dispatcher re-sends overdue jobs
            logger.warning("could not enqueue workflow job %s; the dispatcher will retry", job_id, exc_info=True)
    return sent


def jobs_enqueue_on_commit(items: list[tuple[UUID | str, datetime]]) -> None:
    """Enqueue after the current transaction commits (the worker must see the rows)."""
    if not items:
        return
    schema_name = connection.schema_name
    transaction.on_commit(lambda: jobs_enqueue(schema_name=schema_name, items=items))


def callback_enqueue(*, schema_name: str, job_id: UUID | str, countdown: float = 0) -> None:
    from workflows.tasks import workflow_callback_deliver_task

    try:
        workflow_callback_deliver_task.apply_async(
            kwargs={"job_id": str(job_id)}, countdown=countdown or None, headers={"_schema_name": schema_name}
        )
    except Exception:
        logger.warning("could not enqueue callback of job %s; the dispatcher will retry", job_id, exc_info=True)


def callback_enqueue_on_commit(job_id: UUID | str, *, countdown: float = 0) -> None:
    schema_name = connection.schema_name
    transaction.on_commit(lambda: callback_enqueue(schema_name=schema_name, job_id=job_id, countdown=countdown))


def backoff_seconds(*, base: float, attempt: int, cap: float) -> float:
    """``base × 2ⁿ`` after the n-th failed attempt (n from 0), capped below the visibility timeout."""
    return min(base * (2 ** max(attempt - 1, 0)), cap)
