""" "Sync from WhatsApp" as a job the settings page can watch (issue 11 §4: a sync button with
progress): ``template_sync_start`` queues a ``TemplateSyncJob`` and its task after commit;
the task runs ``template_sync_run``, which records each page of Meta's template listing as it
is read (``meta_templates_sync(on_progress=…)``) and ends the job done or failed with
WhatsApp's reason. Call inside the tenant's schema.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from bizmitra.errors import ApplicationError
from templates.choices import SyncJobStatus
from templates.models import TemplateSyncJob
from templates.services.meta_sync import SyncProgress, _waba_tokens, meta_templates_sync

logger = logging.getLogger(__name__)


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.TEMPLATES_SYNC_STALE_SECONDS)


def template_sync_start(*, requested_by=None) -> TemplateSyncJob:
    """Queue a sync, or return the one already under way (a second click, another owner):
    each sync spends Meta's management-call budget, so two never run side by side.

    Raises ``ValidationFailed`` at once when the tenant has no WhatsApp Business account
    to list (nothing is queued then).
    """
    from templates.tasks import template_sync_task

    _waba_tokens()  # no account: the owner is told now, not by a failed job
    user = requested_by if getattr(requested_by, "pk", None) else None
    with transaction.atomic():
        # Two clicks at once must not both see "none running": starts of one tenant take turns.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{connection.schema_name}:template-sync"])
        running = (
            TemplateSyncJob.objects.filter(status__in=(SyncJobStatus.QUEUED, SyncJobStatus.RUNNING))
            .filter(created_at__gte=_stale_before())
            .first()
        )
        if running is not None:
            return running
        job = TemplateSyncJob.objects.create(requested_by=user)
        job_id, headers = str(job.pk), {"_schema_name": connection.schema_name}
        transaction.on_commit(lambda: template_sync_task.apply_async(kwargs={"job_id": job_id}, headers=headers))
    return job


def template_sync_run(*, job_id) -> TemplateSyncJob | None:
    """Run a queued sync to its end (the task's body). Claims it first with a conditional
    UPDATE, so a redelivered task does nothing unless the worker that had it died long ago."""
    now = timezone.now()
    claimable = Q(status=SyncJobStatus.QUEUED) | Q(status=SyncJobStatus.RUNNING, started_at__lt=_stale_before())
    if not TemplateSyncJob.objects.filter(claimable, pk=job_id).update(status=SyncJobStatus.RUNNING, started_at=now):
        return None

    def progress(step: SyncProgress) -> None:
        TemplateSyncJob.objects.filter(pk=job_id).update(
            accounts_total=step.accounts_total,
            accounts_done=step.accounts_done,
            pages_fetched=step.pages,
            templates_fetched=step.templates,
        )

    try:
        result = meta_templates_sync(on_progress=progress)
    except ApplicationError as exc:
        return _finish(job_id, status=SyncJobStatus.FAILED, error=exc.message)
    except Exception as exc:  # the job must end in a state the owner can see, whatever broke
        logger.exception("template sync %s failed", job_id)
        return _finish(job_id, status=SyncJobStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:500])
    return _finish(
        job_id,
        status=SyncJobStatus.DONE,
        created=result.created,
        updated=result.updated,
        deactivated=result.deactivated,
    )


def _finish(job_id, *, status: str, error: str = "", **counts) -> TemplateSyncJob:
    TemplateSyncJob.objects.filter(pk=job_id).update(status=status, error=error, finished_at=timezone.now(), **counts)
    return TemplateSyncJob.objects.get(pk=job_id)
