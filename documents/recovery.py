"""Document readings lost with the broker or with their worker, found again from the database.

``document_process_task`` is acks_late, but a Redis restart loses it outright, and a
redelivery after a worker died mid-reading finds the document ``processing`` and stops. This
sweep (beat, through ``bizmitra.periodic``) queues again a document still ``queued`` after
``DOCUMENTS_OWED_AFTER_SECONDS`` and hands a stale ``processing`` one back to ``queued``
(failed for good after ``DOCUMENTS_MAX_ATTEMPTS`` readings that never finished). Call inside
the tenant's schema.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from documents.choices import DocumentStatus
from documents.models import Document
from documents.services import _enqueue

logger = logging.getLogger(__name__)

DOCUMENTS_SWEEP_PERIODIC_TASK = "documents: re-queue readings whose task was lost"


def processing_stale_after() -> timedelta:
    """The longest a reading may take (every page at its time limit, twice over), as
    ``document_reprocess`` judges it."""
    return timedelta(seconds=2 * settings.DOCUMENTS_MAX_PAGES * settings.DOCUMENTS_SECONDS_PER_PAGE + 60)


def documents_owed_requeue(*, owed_after: timedelta | None = None, stale_after: timedelta | None = None) -> int:
    """Queue every document reading still owed and forgotten; how many were queued."""
    owed_after = owed_after if owed_after is not None else timedelta(seconds=settings.DOCUMENTS_OWED_AFTER_SECONDS)
    stale_after = stale_after if stale_after is not None else processing_stale_after()
    now = timezone.now()
    stale = Document.objects.filter(status=DocumentStatus.PROCESSING, processing_started_at__lt=now - stale_after)
    given_up = stale.filter(attempts__gte=settings.DOCUMENTS_MAX_ATTEMPTS).update(
        status=DocumentStatus.FAILED,
        failure_reason="reading never finished (the worker stopped each time); use 'Read again'",
        updated_at=now,
    )
    if given_up:
        logger.warning("%d documents failed: their readings never finished", given_up)
    stale.update(status=DocumentStatus.QUEUED, pages_done=0, updated_at=now - owed_after - timedelta(seconds=1))
    queued = 0
    owed = Document.objects.filter(status=DocumentStatus.QUEUED, updated_at__lt=now - owed_after)
    for document_id in owed.order_by("pk").values_list("pk", flat=True)[:200]:
        with transaction.atomic():
            # Touching updated_at: at most one extra task per `owed_after` for each document.
            if Document.objects.filter(
                pk=document_id, status=DocumentStatus.QUEUED, updated_at__lt=now - owed_after
            ).update(updated_at=now):
                _enqueue(document_id)
                queued += 1
    return queued


def documents_periodic_tasks_ensure() -> None:
    """Register the documents sweep with django-celery-beat (idempotent)."""
    from bizmitra.periodic import periodic_task_ensure

    periodic_task_ensure(
        name=DOCUMENTS_SWEEP_PERIODIC_TASK,
        task="documents.documents_owed_sweep",
        every_seconds=settings.DOCUMENTS_SWEEP_EVERY_SECONDS,
        expire_seconds=settings.DOCUMENTS_SWEEP_EVERY_SECONDS,
        description="Document readings still queued, or processing long past any limit (documents/recovery.py).",
    )
