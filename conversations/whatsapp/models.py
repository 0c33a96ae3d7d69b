from django.db import models


class WebhookDelivery(models.Model):
    """One POST from Meta exactly as received, stored before we answer 200.

    Meta keeps no history ("no APIs for fetching historical webhook data"), so
    the raw bytes are the record; processing reads them back from here.
    The webhook view inserts rows with one raw SQL statement (hot path); keep
    the columns in step with ``conversations.whatsapp.ingest``.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        FAILED = "failed"

    body = models.BinaryField()
    received_at = models.DateTimeField(db_index=True)
    signature_verified = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class UnroutedEvent(models.Model):
    """Part of a webhook we did not store as Meta sent it, kept for platform staff instead of dropped.

    ``kind`` says why: ``unrouted`` (no tenant for it: unknown phone number, non-message
    field), ``rejected`` (a message or status that cannot be stored: an id longer than its
    column, nesting too deep, or a value the database refused; its neighbours are stored),
    ``cleaned`` (stored after a fix the ``reason`` names: NUL removed, impossible timestamp
    replaced by the delivery's arrival time).
    """

    class Kind(models.TextChoices):
        UNROUTED = "unrouted"
        REJECTED = "rejected"
        CLEANED = "cleaned"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="unrouted_events")
    phone_number_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    field = models.CharField(max_length=64, blank=True, default="")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.UNROUTED, db_index=True)
    reason = models.CharField(max_length=255)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.reason} ({self.phone_number_id or self.field})"
