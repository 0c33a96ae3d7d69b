"""The dispatcher: a beat task (every ~30 s) that keeps Celery in step with the job rows.

For each tenant it
1. returns jobs stuck in ``running`` past the lease (their worker died) to ``pending``;
2. hands over pending jobs entering the horizon (``eta=next_run_at``), and re-sends
   pending jobs that are overdue although handed over long ago (message lost, worker
   killed, broker restarted: restart recovery);
3. does the same for callbacks.
Rows are picked with ``FOR UPDATE SKIP LOCKED``, so two dispatchers never double up.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django_tenants.utils import schema_context

from bizmitra.periodic import active_tenant_schemas, periodic_task_ensure
from workflows.choices import CallbackState, JobStatus
from workflows.conf import workflow_settings
from workflows.models import WorkflowJob
from workflows.services.scheduling import callback_enqueue, jobs_enqueue

logger = logging.getLogger(__name__)

BATCH = 2000
DISPATCH_TASK_NAME = "workflows.tasks.workflow_dispatch_task"
PERIODIC_TASK_NAME = "workflows: dispatch due jobs"


@dataclass
class DispatchStats:
    handed_over: int = 0
    recovered_running: int = 0
    failed_running: int = 0
    callbacks: int = 0

    def __iadd__(self, other: "DispatchStats") -> "DispatchStats":
        self.handed_over += other.handed_over
        self.recovered_running += other.recovered_running
        self.failed_running += other.failed_running
        self.callbacks += other.callbacks
        return self


def _recover_running(*, now: datetime, lease: float) -> tuple[int, list, list]:
    """Jobs whose worker died mid-attempt: pending again, or failed when attempts are used up.

    Returns how many went back to pending, the ids that failed, and those of them owing a callback.
    """
    stale = Q(status=JobStatus.RUNNING, claimed_at__lte=now - timedelta(seconds=lease))
    error = "The worker running this attempt stopped before finishing it."
    with transaction.atomic():
        used_up = WorkflowJob.objects.select_for_update(skip_locked=True).filter(stale, attempts__gte=F("max_attempts"))
        used_up_ids = list(used_up.values_list("pk", flat=True))
        WorkflowJob.objects.filter(pk__in=used_up_ids).update(
            status=JobStatus.FAILED,
            finished_at=now,
            claim_token=None,
            last_error=error,
            callback_state=Case(
                When(callback_url="", then=Value(CallbackState.NONE)), default=Value(CallbackState.PENDING)
            ),
            callback_next_attempt_at=Case(When(callback_url="", then=None), default=Value(now)),
        )
        recovered = WorkflowJob.objects.filter(stale).update(
            status=JobStatus.PENDING, next_run_at=now, enqueued_at=None, claim_token=None, last_error=error
        )
        owe_callback = list(
            WorkflowJob.objects.filter(pk__in=used_up_ids, callback_state=CallbackState.PENDING).values_list(
                "pk", flat=True
            )
        )
    return recovered, used_up_ids, owe_callback


def _handover_batch(*, now: datetime, horizon: float, grace: float) -> list[tuple[str, datetime]]:
    due_soon = Q(enqueued_at__isnull=True, next_run_at__lte=now + timedelta(seconds=horizon))
    lost = Q(next_run_at__lte=now - timedelta(seconds=grace), enqueued_at__lte=now - timedelta(seconds=grace))
    with transaction.atomic():
        rows = list(
            WorkflowJob.objects.select_for_update(skip_locked=True)
            .filter(Q(status=JobStatus.PENDING) & (due_soon | lost))
            .order_by("next_run_at")
            .values_list("pk", "next_run_at")[:BATCH]
        )
        if rows:
            WorkflowJob.objects.filter(pk__in=[pk for pk, _ in rows]).update(enqueued_at=now)
    return rows


def _callbacks(*, now: datetime, grace: float, lease: float) -> list:
    with transaction.atomic():
        # A claim past its lease lost its worker mid-PUT: due at once, so this same pass re-sends
        # it (set to `now` it would wait out the overdue grace and a further beat tick).
        WorkflowJob.objects.filter(
            callback_state=CallbackState.DELIVERING, callback_claimed_at__lte=now - timedelta(seconds=lease)
        ).update(callback_state=CallbackState.PENDING, callback_next_attempt_at=now - timedelta(seconds=grace))
        ids = list(
            WorkflowJob.objects.select_for_update(skip_locked=True)
            .filter(callback_state=CallbackState.PENDING, callback_next_attempt_at__lte=now - timedelta(seconds=grace))
            .values_list("pk", flat=True)[:BATCH]
        )
        # Bumping the time marks them re-sent, so the next run does not send them again straight away.
        WorkflowJob.objects.filter(pk__in=ids).update(callback_next_attempt_at=now)
    return ids


def workflow_jobs_dispatch(*, now: datetime | None = None) -> DispatchStats:
    """One dispatcher pass over the current tenant schema (call inside it)."""
    conf = workflow_settings()
    now = now or timezone.now()
    schema_name = connection.schema_name
    stats = DispatchStats()
    stats.recovered_running, failed_ids, owe_callback = _recover_running(now=now, lease=conf.running_lease_seconds)
    stats.failed_running = len(failed_ids)
    for job_id in owe_callback:
        callback_enqueue(schema_name=schema_name, job_id=job_id)
    while True:
        rows = _handover_batch(now=now, horizon=conf.handoff_horizon_seconds, grace=conf.overdue_grace_seconds)
        stats.handed_over += jobs_enqueue(schema_name=schema_name, items=rows)
        if len(rows) < BATCH:
            break
    callback_lease = conf.callback_timeout_seconds * 2 + conf.overdue_grace_seconds
    for job_id in _callbacks(now=now, grace=conf.overdue_grace_seconds, lease=callback_lease):
        callback_enqueue(schema_name=schema_name, job_id=job_id)
        stats.callbacks += 1
    return stats


def workflow_dispatch_all(*, now: datetime | None = None) -> DispatchStats:
    """Run the dispatcher in every active tenant's schema; one failing tenant does not stop the rest."""
    total = DispatchStats()
    for schema_name in active_tenant_schemas():
        try:
            with schema_context(schema_name):
                total += workflow_jobs_dispatch(now=now)
        except Exception:
            logger.exception("workflow dispatcher failed for schema %s", schema_name)
    return total


def workflow_periodic_tasks_ensure() -> None:
    """Register the dispatcher with django-celery-beat (idempotent; call at startup)."""
    interval = workflow_settings().dispatch_interval_seconds
    periodic_task_ensure(
        name=PERIODIC_TASK_NAME,
        task=DISPATCH_TASK_NAME,
        every_seconds=interval,
        # A pass that could not start within one interval is superseded by the next one.
        expire_seconds=interval,
    )
