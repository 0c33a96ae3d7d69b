"""Documents customers send (invoices, receipts, ID cards, payment screenshots) and what was read from them."""

from django.db import models

from bizmitra.crypto import EncryptedTextField
from documents.choices import (
    DateOrder,
    DocumentKind,
    DocumentSource,
    DocumentStatus,
    StorageChoice,
    Validation,
)

DEFAULT_ACKNOWLEDGEMENT = "Thanks, we received your {kind}{amount}{date}. We will get back to you shortly."


class DocumentSettings(models.Model):
    """A tenant's one row of document settings (``pk=1``): OCR, replies, lead filling, storage.

    Cloudinary credentials are encrypted at rest (``bizmitra.crypto``); when
    ``storage`` is ``cloudinary`` every media file of the tenant goes to that account.
    """

    ocr_languages = models.CharField(
        max_length=64, default="eng+hin", help_text="Tesseract languages joined by '+', e.g. eng+hin."
    )
    date_order = models.CharField(max_length=3, choices=DateOrder.choices, default=DateOrder.DMY)
    default_currency = models.CharField(max_length=3, default="INR")
    acknowledge = models.BooleanField(default=True, help_text="Reply when a document has been read.")
    acknowledgement = models.CharField(
        max_length=500,
        default=DEFAULT_ACKNOWLEDGEMENT,
        help_text="Placeholders: {kind}, {amount} (' of ₹12,400'), {date} (' dated 3 Dec'), {number}.",
    )
    fill_lead = models.BooleanField(default=False, help_text="Extracted email/phone/name fill the contact's lead.")
    storage = models.CharField(max_length=16, choices=StorageChoice.choices, blank=True, default="")
    cloudinary_cloud_name = models.CharField(max_length=128, blank=True, default="")
    cloudinary_api_key = models.CharField(max_length=128, blank=True, default="")
    cloudinary_api_secret = EncryptedTextField(blank=True, default="")
    cloudinary_upload_prefix = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "Document settings"


class Document(models.Model):
    """One file a customer sent on WhatsApp (an image or a PDF) or an owner uploaded, and its reading.

    ``text`` and ``fields`` never hold a full identity number (Aadhaar is masked to its last
    four digits before anything is saved). The original file is kept even when reading failed.
    """

    source = models.CharField(max_length=16, choices=DocumentSource.choices)
    message = models.OneToOneField(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="document"
    )
    contact = models.ForeignKey(
        "conversations.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    file = models.FileField(upload_to="documents/%Y/%m/", max_length=500)
    thumbnail = models.FileField(upload_to="documents/thumbs/%Y/%m/", max_length=500, blank=True, default="")
    filename = models.CharField(max_length=255, blank=True, default="")
    mime_type = models.CharField(max_length=128, blank=True, default="", help_text="Sniffed from the bytes.")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED)
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    pages_total = models.PositiveSmallIntegerField(default=0)
    pages_done = models.PositiveSmallIntegerField(default=0)
    pages = models.JSONField(default=list, blank=True, help_text="Per page: number, method, chars, confidence.")
    text = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=16, choices=DocumentKind.choices, blank=True, default="")
    validation = models.CharField(max_length=16, choices=Validation.choices, blank=True, default="")
    validation_reasons = models.JSONField(default=list, blank=True)
    uploaded_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["kind", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display() or 'document'} #{self.pk}"


class DocumentField(models.Model):
    """One value read from a document (an email, an amount, a GSTIN...), where and how surely.

    A correction by a person keeps what was read in ``original_value`` and who changed it.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=32)
    value = models.CharField(max_length=255)
    original_value = models.CharField(max_length=255, blank=True, default="")
    confidence = models.FloatField(default=0.0)
    page = models.PositiveSmallIntegerField(default=1)
    snippet = models.CharField(max_length=255, blank=True, default="", help_text="The text it was found in.")
    valid = models.BooleanField(null=True, blank=True, help_text="Checksum or format check, where one exists.")
    corrected_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    corrected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["document", "name", "-confidence", "id"]
        indexes = [models.Index(fields=["name", "value"])]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
