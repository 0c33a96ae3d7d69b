"""Side work owed by rows in the database, found again after the broker lost its task.

The same recovery as replies (``docs/ARCHITECTURE.md``, "The sweeps that recover lost
work"): Redis carries hints, the database says what is owed. Beat runs these through
``bizmitra.periodic``; call the services inside the tenant's schema.

- media downloads still ``pending`` whose row has not changed for
  ``WHATSAPP_MEDIA_OWED_AFTER_SECONDS`` are queued again: received media from the Graph
  API, files we sent by link from their link (``message_media_fetch`` and
  ``message_media_link_fetch`` each attach one file however many tasks run);
- statuses parked for a wamid we never stored are dropped after Meta's 7-day retry horizon.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.choices import Direction, MediaStatus
from conversations.models import Message, PendingStatus
from conversations.services.media import media_fetch_schedule
from conversations.services.media_links import media_link_fetch_schedule

logger = logging.getLogger(__name__)

MEDIA_SWEEP_PERIODIC_TASK = "media: re-queue downloads whose task was lost"
PENDING_STATUS_SWEEP_PERIODIC_TASK = "statuses: expire parked statuses past Meta's retry horizon"


def media_fetches_owed_requeue(*, owed_after: timedelta | None = None, limit: int = 500) -> int:
    """Queue the download of every media still owed and forgotten; how many were queued.

    Touching ``updated_at`` in the same statement gives each row at most one extra task per
    ``owed_after`` (a slow download still running is not queued over and over).
    """
    owed_after = owed_after if owed_after is not None else timedelta(seconds=settings.WHATSAPP_MEDIA_OWED_AFTER_SECONDS)
    now = timezone.now()
    owed = list(
        Message.objects.filter(
            media_status=MediaStatus.PENDING,
            updated_at__lt=now - owed_after,
            created_at__gte=now - timedelta(seconds=settings.WHATSAPP_MEDIA_OWED_MAX_AGE_SECONDS),
        )
        .order_by("pk")
        .values_list("pk", "direction")[:limit]
    )
    queued = 0
    for message_id, direction in owed:
        with transaction.atomic():
            if Message.objects.filter(
                pk=message_id, media_status=MediaStatus.PENDING, updated_at__lt=now - owed_after
            ).update(updated_at=now):
                # Only a file we sent by link is owed on an outbound row (message_media_link_owe).
                if direction == Direction.OUTBOUND:
                    media_link_fetch_schedule(message_id=message_id)
                else:
                    media_fetch_schedule(message_id=message_id)
                queued += 1
    if queued:
        logger.warning("re-queued %d media downloads whose task was lost", queued)
    return queued


def pending_statuses_expire(*, older_than: timedelta | None = None) -> int:
    """Delete statuses parked longer than Meta retries webhooks (7 days); how many went."""
    older_than = (
        older_than if older_than is not None else timedelta(seconds=settings.WHATSAPP_PENDING_STATUS_TTL_SECONDS)
    )
    deleted, _ = PendingStatus.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


def sweeps_periodic_tasks_ensure() -> None:
    """Register the media and parked-status sweeps with django-celery-beat (idempotent)."""
    from bizmitra.periodic import periodic_task_ensure

    periodic_task_ensure(
        name=MEDIA_SWEEP_PERIODIC_TASK,
        task="conversations.tasks.inbound.media_owed_sweep_task",
        every_seconds=settings.WHATSAPP_MEDIA_SWEEP_EVERY_SECONDS,
        expire_seconds=settings.WHATSAPP_MEDIA_SWEEP_EVERY_SECONDS,
        description="Media downloads (received or sent by link) whose task was lost (services/sweeps.py).",
    )
    periodic_task_ensure(
        name=PENDING_STATUS_SWEEP_PERIODIC_TASK,
        task="conversations.tasks.outbound.pending_statuses_expire_task",
        every_seconds=settings.WHATSAPP_PENDING_STATUS_SWEEP_EVERY_SECONDS,
        expire_seconds=settings.WHATSAPP_PENDING_STATUS_SWEEP_EVERY_SECONDS,
        description="Parked statuses older than Meta's 7-day retry horizon (services/sweeps.py).",
    )
