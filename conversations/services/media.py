"""Media of WhatsApp messages: downloading what customers send into our storage.

Moved out of ``conversations.services.inbound`` so that inbound ingest (bulk inserts) and
media handling evolve separately. A download is checked before it is kept (Meta's sha256,
the type sniffed from the bytes, Meta's size limit for the message type; see
``bizmitra.storage``), stored through the tenant's storage, and announced as
``message.media_stored`` (documents turns images and PDFs into Documents from that event;
conversations never imports documents). Files we send are kept too: composer attachments
before their upload (``media_upload_for_send``), files sent by ``link`` by a background
download of the link (``services.media_links``), so every file sent has our own copy.
Everything here runs inside the tenant's schema.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from bizmitra.errors import ValidationFailed
from bizmitra.events import publish
from bizmitra.graph_api.client import GraphClient
from bizmitra.storage import MediaRejected, media_check
from conversations.choices import MediaStatus
from conversations.models import Message
from tenants.selectors import phone_number_get

logger = logging.getLogger(__name__)

# What Meta accepts per message type (FACTS.md §6, WA/business-phone-numbers/media).
SENDABLE_TYPES = {
    "image": ("image/jpeg", "image/png"),
    "video": ("video/mp4", "video/3gpp"),
    "audio": ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg", "audio/m4a"),
    "sticker": ("image/webp",),
    "document": None,  # txt, pdf, office files: anything but an executable is fine to store
}


@dataclass(frozen=True)
class SentMedia:
    media_id: str  # Meta's id, for {"type": kind, kind: {"id": media_id}}
    name: str  # our storage key (tenant-namespaced)
    mime_type: str  # sniffed
    sha256: str


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


def media_upload_for_send(*, phone_number_id: str, data: bytes, filename: str, kind: str) -> SentMedia:
    """Keep a file we are about to send in our storage, then upload it to Meta.

    Call inside the tenant's schema. The same checks as for received media (Meta's size
    limit for ``kind``, the type sniffed from the bytes and matched against what Meta takes
    for that kind); ``ValidationFailed`` names the problem. Graph errors propagate. The
    stored copy is kept even when the upload fails, so a retry need not re-read the file.
    """
    if kind not in SENDABLE_TYPES:
        raise ValidationFailed(
            f"{kind!r} is not a media type.", fields={"type": ["image, video, audio, sticker or document"]}
        )
    try:
        mime_type = media_check(data=data, kind=kind)
    except MediaRejected as exc:
        raise ValidationFailed(f"The file cannot be sent: {exc.reason}.", fields={"file": [exc.reason]}) from exc
    problem = media_not_sendable_reason(kind, mime_type)
    if problem:
        raise ValidationFailed(
            f"The file is {problem}.", fields={"file": [f"{mime_type} is not a {kind} WhatsApp takes"]}
        )
    number = phone_number_get(phone_number_id=phone_number_id)
    if number is None or number.tenant.schema_name != connection.schema_name:
        raise ValidationFailed("That phone number is not this business's.", fields={"phone_number_id": ["unknown"]})
    stem, extension = _sent_stem(filename, mime_type)
    name = default_storage.save(sent_media_key(filename, mime_type), ContentFile(data))
    client = GraphClient(
        base_url=settings.WHATSAPP_GRAPH_URL,
        api_version=settings.WHATSAPP_API_VERSION,
        access_token=number.access_token,
    )
    media_id = client.upload_media(number.phone_number_id, data, mime_type, f"{stem}{extension}")
    return SentMedia(media_id=media_id, name=name, mime_type=mime_type, sha256=hashlib.sha256(data).hexdigest())


def media_not_sendable_reason(kind: str, mime_type: str) -> str:
    """Why a file of ``mime_type`` is not a ``kind`` WhatsApp takes ("" when it is)."""
    allowed = SENDABLE_TYPES[kind]
    if (allowed and mime_type not in allowed) or mime_type in ("application/x-executable", "application/x-msdownload"):
        return f"{mime_type}, which WhatsApp does not take as {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    return ""


def _sent_stem(filename: str, mime_type: str) -> tuple[str, str]:
    # The extension follows the sniffed type, like received media's (_media_filename).
    extension = mimetypes.guess_extension(mime_type) or ""
    try:
        stem = get_valid_filename(filename.rsplit(".", 1)[0])[:80] if filename else "file"
    except SuspiciousFileOperation:
        stem = "file"
    return stem or "file", extension


def sent_media_key(filename: str, mime_type: str) -> str:
    """Where a file we send is kept (the storage puts it under tenants/<schema>/)."""
    stem, extension = _sent_stem(filename, mime_type)
    return f"sent/{timezone.now():%Y/%m}/{uuid.uuid4().hex[:12]}-{stem}{extension}"
