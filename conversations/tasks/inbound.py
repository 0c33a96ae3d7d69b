"""Media tasks: received media fetched from the Graph API, files we sent by link kept too.

Both run on the default queue (the background worker), never in front of replies. Webhook
processing itself is public-schema work and lives in ``conversations.whatsapp.tasks``.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import connection

from bizmitra.graph_api.client import GraphError
from bizmitra.periodic import tenants_fan_out
from conversations.services.media import message_media_failed, message_media_fetch
from conversations.services.media_links import LinkFetchFailed, message_media_link_fetch
from conversations.services.sweeps import media_fetches_owed_requeue

__all__ = [
    "media_fetch_task",
    "media_link_fetch_task",
    "media_owed_sweep_task",
    "media_owed_sweep_tenant_task",
    "media_retry_delay",
]

logger = logging.getLogger(__name__)


def media_retry_delay(retries: int) -> float:
    """Exponential backoff, capped far below the broker's visibility timeout (celery-notes §1)."""
    return min(settings.WHATSAPP_MEDIA_RETRY_BASE_SECONDS * 2**retries, settings.WHATSAPP_MEDIA_RETRY_MAX_SECONDS)


@shared_task(bind=True, max_retries=None, ignore_result=True)
def media_fetch_task(self, message_id: int) -> None:
    """Download an inbound message's media (runs in the message's tenant schema).

    Temporary failures (network, 5xx, expired URL, Meta's retryable codes) retry with backoff
    while the message keeps ``media_status=pending``; a permanent Graph error, or running
    out of retries, leaves it ``failed`` with ``media_error`` (the message itself is kept,
    and the admin action "Fetch media again" can still attach the file later).
    """
    try:
        message_media_fetch(message_id=message_id)
    except Exception as exc:
        retryable = exc.retryable if isinstance(exc, GraphError) else True
        if retryable and self.request.retries < settings.WHATSAPP_MEDIA_MAX_RETRIES:
            logger.info("media of message %s: %s; retry %d", message_id, exc, self.request.retries + 1)
            raise self.retry(exc=exc, countdown=media_retry_delay(self.request.retries)) from exc
        logger.warning("media of message %s not downloaded: %s", message_id, exc)
        message_media_failed(message_id=message_id, error=str(exc) or type(exc).__name__)


@shared_task(bind=True, max_retries=None, ignore_result=True)
def media_link_fetch_task(self, message_id: int) -> None:
    """Keep our copy of a file an outbound message sent by link (in the message's schema).

    Temporary failures retry with backoff while ``media_status`` stays ``pending``; a
    refused or dead link, or running out of retries, leaves ``failed`` with the reason in
    ``media_error``. Never touches the send: Meta fetches the link on its own.
    """
    try:
        message_media_link_fetch(message_id=message_id)
    except LinkFetchFailed as exc:
        if self.request.retries < settings.WHATSAPP_MEDIA_LINK_MAX_RETRIES:
            logger.info("link of message %s: %s; retry %d", message_id, exc.reason, self.request.retries + 1)
            raise self.retry(exc=exc, countdown=media_retry_delay(self.request.retries)) from exc
        logger.warning("link of message %s not kept: %s", message_id, exc.reason)
        message_media_failed(message_id=message_id, error=exc.reason)


@shared_task(ignore_result=True)
def media_owed_sweep_task() -> int:
    """Beat entry point (public schema): fan the media sweep out to every active tenant."""
    return tenants_fan_out(media_owed_sweep_tenant_task)


@shared_task
def media_owed_sweep_tenant_task() -> dict:
    """Queue again the media downloads (received, or sent by link) of one tenant whose task
    was lost (``services.sweeps``)."""
    return {"schema": connection.schema_name, "queued": media_fetches_owed_requeue()}
