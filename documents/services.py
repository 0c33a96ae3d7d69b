"""Writes of the documents app: creating documents, reading them, corrections and review.

Everything runs inside the tenant's schema. The reading itself (``document_process``) runs in
a Celery task on the documents queue, never in front of a reply: a document is created
``queued`` and enqueued after commit; the task claims it with a conditional UPDATE, so two
workers given the same id read it once. ``document.processed`` is published when reading
ends (leads fills the contact's lead from it when the tenant turned that on).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from datetime import date, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import get_valid_filename

from bizmitra.errors import ValidationFailed
from bizmitra.events import publish
from bizmitra.storage import media_sniff
from documents import extraction, ocr
from documents.choices import DocumentKind, DocumentSource, DocumentStatus, Validation
from documents.models import Document, DocumentField, DocumentSettings

logger = logging.getLogger(__name__)

READABLE_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/webp", "image/tiff", "image/bmp", "image/gif")
KIND_WORDS = {
    DocumentKind.INVOICE: "invoice",
    DocumentKind.RECEIPT: "receipt",
    DocumentKind.ID: "ID document",
    DocumentKind.PAYMENT: "payment screenshot",
    DocumentKind.OTHER: "document",
    DocumentKind.UNKNOWN: "document",
}
CURRENCY_SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€"}
CORRECTABLE_FIELDS = (
    "email",
    "phone",
    "date",
    "amount",
    "currency",
    "invoice_number",
    "order_number",
    "transaction_id",
    "gstin",
    "pan",
    "name",
)


OCR_LANGUAGES = re.compile(r"[a-z_]{3,8}(\+[a-z_]{3,8})*")  # tesseract's codes joined by "+"
SETTINGS_FIELDS = (
    "ocr_languages",
    "date_order",
    "default_currency",
    "acknowledge",
    "acknowledgement",
    "fill_lead",
    "storage",
    "cloudinary_cloud_name",
    "cloudinary_api_key",
    "cloudinary_api_secret",
    "cloudinary_upload_prefix",
)


def document_settings_get() -> DocumentSettings:
    """The tenant's settings row, created with the defaults on first use."""
    row, _ = DocumentSettings.objects.get_or_create(pk=1)
    return row


@transaction.atomic
def document_settings_update(**changes) -> DocumentSettings:
    """Change the tenant's document settings; a new storage choice applies at once."""
    from documents.storage_settings import tenant_backend_forget

    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown settings.", fields={name: ["unknown setting"] for name in sorted(unknown)})
    row = DocumentSettings.objects.select_for_update().get_or_create(pk=1)[0]
    languages = changes.get("ocr_languages")
    if languages is not None and not OCR_LANGUAGES.fullmatch(languages):
        raise ValidationFailed("Write languages like eng+hin.", fields={"ocr_languages": ["like eng+hin"]})
    for name, value in changes.items():
        setattr(row, name, value)
    if changes:
        row.save()
        schema_name = connection.schema_name
        tenant_backend_forget(schema_name)
        transaction.on_commit(lambda: tenant_backend_forget(schema_name))  # a read in between cached the old
    return row


def _limits() -> ocr.Limits:
    return ocr.Limits(
        max_pages=settings.DOCUMENTS_MAX_PAGES,
        max_pixels=settings.DOCUMENTS_MAX_PIXELS,
        seconds_per_page=settings.DOCUMENTS_SECONDS_PER_PAGE,
    )


# -- creation ---------------------------------------------------------------------------------


@transaction.atomic
def document_create_from_message(*, message_id: int) -> Document | None:
    """The Document for an inbound message's stored image or PDF; None for other media.

    Re-runnable: a second call for the same message returns the existing document.
    """
    from conversations.models import Message

    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or not message.media_file:
        return None
    mime_type = message.media_mime_type
    if message.type not in ("image", "document") or mime_type not in READABLE_TYPES:
        return None
    existing = Document.objects.filter(message_id=message_id).first()
    if existing is not None:
        return existing
    with message.media_file.open("rb") as handle:
        data = handle.read()
    try:
        with transaction.atomic():
            document = Document.objects.create(
                source=DocumentSource.WHATSAPP,
                message=message,
                contact_id=message.conversation.contact_id,
                file=message.media_file.name,  # the same stored object: no second copy
                filename=message.media_filename[:255],
                mime_type=mime_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
    except IntegrityError:  # a parallel delivery of the event created it (unique message)
        return Document.objects.get(message_id=message_id)
    _enqueue(document.pk)
    return document


@transaction.atomic
def document_create_from_upload(*, upload: UploadedFile, uploaded_by=None, contact_id: int | None = None) -> Document:
    """A Document from an owner's upload (the API's 10 MB multipart upload); queued for reading."""
    limit = settings.DOCUMENTS_UPLOAD_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ValidationFailed(
            f"The file is larger than {limit // (1024 * 1024)} MB.", fields={"file": [f"at most {limit} bytes"]}
        )
    data = upload.read()
    if not data:
        raise ValidationFailed("The file is empty.", fields={"file": ["the file is empty"]})
    mime_type = media_sniff(data)
    if mime_type not in READABLE_TYPES:
        raise ValidationFailed(
            f"Files of type {mime_type} cannot be read; send a PDF or an image (JPEG, PNG, WebP).",
            fields={"file": [f"unsupported type {mime_type}"]},
        )
    if contact_id is not None:
        from conversations.models import Contact

        if not Contact.objects.filter(pk=contact_id).exists():
            raise ValidationFailed("No such contact.", fields={"contact": ["no contact with this id"]})
    filename = _safe_name(upload.name or "upload", mime_type)
    document = Document(
        source=DocumentSource.UPLOAD,
        contact_id=contact_id,
        filename=(upload.name or "")[:255],
        mime_type=mime_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=uploaded_by,
    )
    document.file.save(filename, ContentFile(data), save=False)
    document.save()
    _enqueue(document.pk)
    return document


def _safe_name(name: str, mime_type: str) -> str:
    extension = mimetypes.guess_extension(mime_type) or ""
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0][:80] or "document"
    try:
        return get_valid_filename(f"{stem}{extension}")
    except Exception:
        return f"document{extension}"


def _enqueue(document_id: int) -> None:
    from documents.tasks import document_process_task

    headers = {"_schema_name": connection.schema_name}  # on_commit may run outside the tenant context
    transaction.on_commit(
        lambda: document_process_task.apply_async(kwargs={"document_id": document_id}, headers=headers)
    )


# -- reading ----------------------------------------------------------------------------------


def _claim(document_id: int) -> Document | None:
    claimed = Document.objects.filter(pk=document_id, status=DocumentStatus.QUEUED).update(
        status=DocumentStatus.PROCESSING,
        processing_started_at=timezone.now(),
        attempts=F("attempts") + 1,
        pages_done=0,
        failure_reason="",
        updated_at=timezone.now(),
    )
    return Document.objects.get(pk=document_id) if claimed else None


def document_process(*, document_id: int) -> bool:
    """Read a queued document: OCR, fields, validation; False when there was nothing to do.

    Ends ``done`` or ``failed`` (with the reason); the original file is kept either way.
    Unexpected errors are re-raised after the document is marked failed, so they are logged.
    """
    document = _claim(document_id)
    if document is None:
        return False
    config = document_settings_get()
    try:
        with document.file.open("rb") as handle:
            data = handle.read()
    except Exception as exc:
        _fail(document, f"the stored file could not be read ({exc.__class__.__name__})")
        raise

    def progress(page: ocr.PageText, total: int) -> None:
        Document.objects.filter(pk=document.pk).update(
            pages_total=total, pages_done=page.number, updated_at=timezone.now()
        )

    ocr.threads_limit(settings.DOCUMENTS_OCR_THREADS)
    try:
        pages = ocr.document_read(
            data, mime_type=document.mime_type, languages=config.ocr_languages, limits=_limits(), on_page=progress
        )
    except ocr.OcrFailed as exc:
        _fail(document, exc.reason)
        return True
    except Exception as exc:
        _fail(document, f"reading failed unexpectedly ({exc.__class__.__name__})")
        raise
    try:
        thumb = ocr.thumbnail(data, mime_type=document.mime_type, limits=_limits())
        _store_result(document, pages=pages, config=config, thumb=thumb)
    except Exception as exc:  # never leave it "processing": that blocks "read again"
        _fail(document, f"saving what was read failed ({exc.__class__.__name__})")
        raise
    return True


@transaction.atomic
def _store_result(
    document: Document, *, pages: list[ocr.PageText], config: DocumentSettings, thumb: bytes | None
) -> None:
    masked_pages = []
    for page in pages:
        text, _ = extraction.identity_mask(page.text)
        masked_pages.append((text, page.confidence))
    found = extraction.extract(
        masked_pages,
        date_order=config.date_order,
        default_currency=config.default_currency,
        today=timezone.localdate() if settings.USE_TZ else date.today(),
    )
    document.fields.all().delete()  # a reprocess replaces what was read, corrections included
    DocumentField.objects.bulk_create(
        DocumentField(
            document=document,
            name=item.name,
            value=item.value[:255],
            confidence=item.confidence,
            page=item.page,
            snippet=item.snippet[:255],
            valid=item.valid,
        )
        for item in found.fields
    )
    if thumb and not document.thumbnail:
        document.thumbnail.save(f"{document.pk}.png", ContentFile(thumb), save=False)
    document.text = "\n\n".join(text for text, _ in masked_pages)
    document.pages = [page.as_dict() for page in pages]
    document.pages_total = document.pages_done = len(pages)
    document.kind = found.kind
    document.validation = found.validation
    document.validation_reasons = found.reasons
    document.status = DocumentStatus.DONE
    document.processed_at = timezone.now()
    document.save(
        update_fields=[
            "thumbnail",
            "text",
            "pages",
            "pages_total",
            "pages_done",
            "kind",
            "validation",
            "validation_reasons",
            "status",
            "processed_at",
            "updated_at",
        ]
    )
    _publish_processed(document, config=config)


def document_best_values(document: Document) -> dict[str, str]:
    """Each field's most trusted value (a person's correction has confidence 1)."""
    best: dict[str, str] = {}
    for name, value in document.fields.order_by("-confidence", "id").values_list("name", "value"):
        best.setdefault(name, value)
    return best


def _fail(document: Document, reason: str) -> None:
    with transaction.atomic():
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.FAILED,
            failure_reason=reason[:500],
            processed_at=timezone.now(),
            updated_at=timezone.now(),
        )
        publish("document.failed", document_id=document.pk, contact_id=document.contact_id, reason=reason)


def _publish_processed(document: Document, *, config: DocumentSettings) -> None:
    best = document_best_values(document)
    publish(
        "document.processed",
        document_id=document.pk,
        contact_id=document.contact_id,
        message_id=document.message_id,
        kind=document.kind,
        validation=document.validation,
        # leads does not import documents: what it may fill travels in the event.
        fill_lead=config.fill_lead,
        fields={name: best[name] for name in ("email", "phone", "name") if name in best},
    )
    if document.message_id and config.acknowledge:
        transaction.on_commit(lambda: _acknowledge_after_commit(document.pk))


def _acknowledge_after_commit(document_id: int) -> None:
    try:
        document_acknowledge(document_id=document_id)
    except Exception:  # the reading is saved; a failed thank-you must not undo it
        logger.warning("acknowledgement of document %s not sent", document_id, exc_info=True)


@transaction.atomic
def document_reprocess(*, document: Document) -> Document:
    """Read again (after a failure, or with new settings): back to ``queued`` and enqueued.

    A document being read right now is left alone (the caller sees ``processing``), unless
    its reading started so long ago that its worker must have died."""
    # A worker that died mid-way leaves "processing" behind; past the longest a reading may
    # take (every page at its time limit, twice over) it may be queued again.
    stale = timezone.now() - timedelta(
        seconds=2 * settings.DOCUMENTS_MAX_PAGES * settings.DOCUMENTS_SECONDS_PER_PAGE + 60
    )
    Document.objects.filter(pk=document.pk).exclude(
        status=DocumentStatus.PROCESSING, processing_started_at__gt=stale
    ).update(status=DocumentStatus.QUEUED, failure_reason="", pages_done=0, updated_at=timezone.now())
    document.refresh_from_db()
    if document.status == DocumentStatus.QUEUED:
        _enqueue(document.pk)
    return document


# -- acknowledgement --------------------------------------------------------------------------


def acknowledgement_text(
    *, template: str, kind: str, amount: str = "", currency: str = "", day: str = "", number: str = ""
) -> str:
    """ "Thanks, we received your invoice of ₹12,400 dated 3 Dec" from the tenant's template."""
    amount_part = ""
    if amount:
        symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} " if currency else "")
        amount_part = f" of {symbol}{_grouped(amount)}"
    date_part = ""
    if day:
        try:
            parsed = date.fromisoformat(day)
            date_part = f" dated {parsed.day} {parsed.strftime('%b')}"
        except ValueError:
            date_part = ""
    values = {
        "kind": KIND_WORDS.get(kind, "document"),
        "amount": amount_part,
        "date": date_part,
        "number": f" {number}" if number else "",
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):  # a broken template still thanks the customer
        return DocumentSettings._meta.get_field("acknowledgement").default.format(**values)


def _grouped(amount: str) -> str:
    """12400.00 -> 12,400 and 125000.50 -> 1,25,000.50 (Indian grouping; paise only when present)."""
    whole, _, paise = amount.partition(".")
    head, tail = whole[:-3], whole[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    text = ",".join(groups + [tail]) if groups else tail
    return f"{text}.{paise}" if paise and paise.strip("0") else text


def document_acknowledge(*, document_id: int):
    """Send the tenant's acknowledgement for a read WhatsApp document, once (idempotency key)."""
    from conversations.services.outbound import DuplicateMessage, message_send

    config = document_settings_get()
    document = Document.objects.select_related("message__conversation__contact").filter(pk=document_id).first()
    if document is None or document.message is None or not config.acknowledge:
        return None
    fields = document_best_values(document)
    text = acknowledgement_text(
        template=config.acknowledgement,
        kind=document.kind,
        amount=fields.get("amount", ""),
        currency=fields.get("currency", ""),
        day=fields.get("date", ""),
        number=fields.get("invoice_number", ""),
    )
    contact = document.message.conversation.contact
    to = contact.wa_id or contact.user_id
    if not to:
        return None
    try:
        with transaction.atomic():
            sent = message_send(
                to=to,
                type="text",
                content=text,
                idempotency_key=f"docack:{document.pk}",
                conversation=document.message.conversation,
                context_wamid=document.message.wamid,
            )
            Document.objects.filter(pk=document.pk).update(acknowledged_at=timezone.now())
    except DuplicateMessage:
        return None
    return sent


# -- people's changes -------------------------------------------------------------------------


@transaction.atomic
def document_field_correct(*, document: Document, name: str, value: str, user) -> DocumentField:
    """Set a field to what a person read; the first machine value stays in ``original_value``."""
    value = (value or "").strip()
    if name not in CORRECTABLE_FIELDS:
        raise ValidationFailed(f"{name!r} is not a field that can be corrected.", fields={"name": ["unknown field"]})
    if not value or len(value) > 255:
        raise ValidationFailed("A value of 1 to 255 characters is needed.", fields={"value": ["1 to 255 characters"]})
    value, problem = _normalised(name, value)
    if problem:
        raise ValidationFailed(problem, fields={"value": [problem]})
    field = document.fields.select_for_update().filter(name=name).order_by("-confidence", "id").first()
    now = timezone.now()
    if field is None:
        field = DocumentField.objects.create(
            document=document, name=name, value=value, confidence=1.0, corrected_by=user, corrected_at=now
        )
    else:
        if field.corrected_at is None:
            field.original_value = field.value
        field.value, field.confidence, field.corrected_by, field.corrected_at = value, 1.0, user, now
        field.valid = True if name not in ("gstin", "pan") else field.valid
        if name == "gstin":
            field.valid = extraction.gstin_valid(value)
        if name == "pan":
            field.valid = extraction.pan_valid(value)
        field.save(update_fields=["value", "original_value", "confidence", "corrected_by", "corrected_at", "valid"])
    Document.objects.filter(pk=document.pk).update(updated_at=now)
    publish("document.corrected", document_id=document.pk, field=name)
    return field


def _normalised(name: str, value: str) -> tuple[str, str]:
    import phonenumbers

    if name == "email":
        if not extraction._EMAIL.fullmatch(value):
            return value, "That is not an email address."
        return value.lower(), ""
    if name == "phone":
        try:
            number = phonenumbers.parse(value, "IN")
        except phonenumbers.NumberParseException:
            return value, "That is not a phone number."
        if not phonenumbers.is_valid_number(number):
            return value, "That is not a valid phone number."
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""
    if name == "date":
        try:
            return date.fromisoformat(value).isoformat(), ""
        except ValueError:
            return value, "Write the date as YYYY-MM-DD."
    if name == "amount":
        try:
            from decimal import Decimal

            return f"{Decimal(value.replace(',', '')):.2f}", ""
        except Exception:
            return value, "Write the amount as a number, e.g. 12400.00."
    if name in ("gstin", "pan", "invoice_number", "order_number", "transaction_id", "currency"):
        value = value.upper()
    if name == "gstin" and not extraction.gstin_valid(value):
        return value, f"{value} is not a valid GSTIN (its checksum fails)."
    if name == "pan" and not extraction.pan_valid(value):
        return value, f"{value} is not a valid PAN."
    return value, ""


@transaction.atomic
def document_mark_reviewed(*, document: Document, user) -> Document:
    """A person checked what was read: ``reviewed_by``/``reviewed_at``, and the verdict is valid."""
    now = timezone.now()
    Document.objects.filter(pk=document.pk).update(
        reviewed_by=user, reviewed_at=now, validation=Validation.VALID, updated_at=now
    )
    document.refresh_from_db()
    publish("document.reviewed", document_id=document.pk)
    return document
