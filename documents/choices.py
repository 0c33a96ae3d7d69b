from django.db import models


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DocumentKind(models.TextChoices):
    UNKNOWN = "", "Not read yet"
    INVOICE = "invoice", "Invoice"
    RECEIPT = "receipt", "Receipt"
    ID = "id", "ID card"
    PAYMENT = "payment", "Payment screenshot"
    OTHER = "other", "Other"


class DocumentSource(models.TextChoices):
    WHATSAPP = "whatsapp", "Sent on WhatsApp"
    UPLOAD = "upload", "Uploaded"


class Validation(models.TextChoices):
    PENDING = "", "Not checked"
    VALID = "valid", "Valid"
    NEEDS_REVIEW = "needs_review", "Needs review"
    INVALID = "invalid", "Invalid"


class DateOrder(models.TextChoices):
    DMY = "DMY", "day/month/year (India, UK)"
    MDY = "MDY", "month/day/year (US)"
    YMD = "YMD", "year/month/day"


class StorageChoice(models.TextChoices):
    PLATFORM = "", "The platform's storage"
    CLOUDINARY = "cloudinary", "Our own Cloudinary account"
