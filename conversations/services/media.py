"""Media of WhatsApp messages: downloading what customers send into our storage.

Moved out of ``conversations.services.inbound`` so that inbound ingest (bulk inserts) and
media handling evolve separately. A download is checked before it is kept (Meta's sha256,
the type sniffed from the bytes, Meta's size limit for the message type; see
``bizmitra.storage``), stored through the tenant's storage, and announced as
``message.media_stored`` (documents turns images and PDFs into Documents from that event;
conversations never imports documents). Everything here runs inside the tenant's schema.
"""

from __future__ import annotations

import logging
import mimetypes

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from bizmitra.events import publish
from bizmitra.storage import MediaRejected, media_check
from conversations.choices import MediaStatus
from conversations.models import Message
from conversations.whatsapp.graph_client import GraphClient
from tenants.selectors import phone_number_get

logger = logging.getLogger(__name__)


def message_media_fetch(*, message_id: int) -> bool:
    """Download an inbound message's media from the Graph API into ``Message.media_file``.

    Call inside the tenant's schema. Returns False when there is nothing to do (no media,
    already downloaded, message gone). A Graph failure is recorded in ``media_error`` (the
    status stays ``pending``) and re-raised as ``GraphError`` for the task's retry policy.
    Safe to run twice at once: only one download is attached, the other file is removed.
    """
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or not message.media_id or message.media_status == MediaStatus.DOWNLOADED:
        return False
    number = phone_number_get(phone_number_id=message.conversation.phone_number_id)
    if number is None or number.tenant.schema_name != connection.schema_name:
        message_media_failed(message_id=message_id, error="the business phone number is not registered")
        return False
    client = GraphClient(
        base_url=settings.WHATSAPP_GRAPH_URL,
        api_version=settings.WHATSAPP_API_VERSION,
        access_token=number.access_token,
    )
    try:
        info = client.get_media(message.media_id, phone_number_id=number.phone_number_id)
        data = client.download_media(info.url)
    except Exception as exc:
        Message.objects.filter(pk=message_id).exclude(media_status=MediaStatus.DOWNLOADED).update(
            media_error=str(exc)[:255], updated_at=timezone.now()
        )
        raise
    try:
        # Checked against the hash Graph served with this download URL; the webhook's copy
        # only when Graph gave none (both are Meta's, for the same file).
        mime_type = media_check(data=data, kind=message.type, expected_sha256=info.sha256 or message.media_sha256)
    except MediaRejected as exc:
        # Downloading again gives the same bytes: fail now instead of retrying for days.
        message_media_failed(message_id=message_id, error=exc.reason)
        return False
    name = message.media_file.field.generate_filename(message, _media_filename(message, mime_type))
    stored = default_storage.save(name, ContentFile(data))
    attached = (
        Message.objects.filter(pk=message_id)
        .exclude(media_status=MediaStatus.DOWNLOADED)
        .update(
            media_file=stored,
            media_status=MediaStatus.DOWNLOADED,
            media_error="",
            media_mime_type=mime_type[:128],
            media_sha256=message.media_sha256 or info.sha256[:128],
            updated_at=timezone.now(),
        )
    )
    if not attached:
        default_storage.delete(stored)
        return False
    publish(
        "message.media_stored",
        message_id=message.pk,
        conversation_id=message.conversation_id,
        contact_id=message.conversation.contact_id,
        kind=message.type,
        mime_type=mime_type,
        name=stored,
        filename=message.media_filename,
    )
    return True


def message_media_failed(*, message_id: int, error: str) -> None:
    """Give up downloading for now: ``media_status=failed`` (a later fetch may still succeed)."""
    Message.objects.filter(pk=message_id).exclude(media_status=MediaStatus.DOWNLOADED).update(
        media_status=MediaStatus.FAILED, media_error=error[:255], updated_at=timezone.now()
    )


def media_fetch_schedule(*, message_id: int) -> None:
    """Enqueue the download once the current transaction commits."""
    from conversations.tasks.inbound import media_fetch_task

    # on_commit runs after the tenant_context has been left, so name the schema here.
    headers = {"_schema_name": connection.schema_name}
    transaction.on_commit(lambda: media_fetch_task.apply_async(kwargs={"message_id": message_id}, headers=headers))


def _media_filename(message: Message, mime_type: str) -> str:
    # The extension follows the sniffed type, so "invoice.pdf.exe" cannot pass for a PDF.
    extension = mimetypes.guess_extension(mime_type.split(";")[0].strip()) or ""
    try:
        stem = message.media_filename.rsplit(".", 1)[0] if message.media_filename else message.media_id
        original = get_valid_filename(f"{stem}{extension}")[-100:]
    except SuspiciousFileOperation:  # a name like ".." from the customer's phone
        original = f"media{extension}"
    return f"{message.pk}-{original}"  # the storage puts it under tenants/<schema>/
