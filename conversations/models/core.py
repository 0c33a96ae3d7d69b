from django.db import models
from django.db.models import Q

from conversations.choices import ConversationStatus, Direction, MediaStatus, MessageStatus, MessageType


class Contact(models.Model):
    """A customer who writes to the business on WhatsApp.

    Keyed on ``wa_id`` (their phone number) or, when Meta leaves the phone out
    (usernames, 2026), on the business-scoped ``user_id``.
    """

    wa_id = models.CharField(max_length=32, null=True, blank=True, unique=True)
    user_id = models.CharField("business-scoped user id", max_length=128, null=True, blank=True, unique=True)
    profile_name = models.CharField(max_length=256, blank=True, default="")
    # Opens the 24-hour customer-service window; free-form sends need it recent.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(wa_id__isnull=False) | Q(user_id__isnull=False), name="contact_has_key")
        ]

    def __str__(self) -> str:
        return self.profile_name or self.wa_id or self.user_id or f"contact {self.pk}"

    @property
    def recipient(self) -> str:
        return f"+{self.wa_id}" if self.wa_id else (self.user_id or "")


class Conversation(models.Model):
    """The one running chat between the business and a contact.

    One per contact (a unique constraint), so parallel deliveries of a burst
    can never open two conversations for the same person.
    """

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="conversation")
    phone_number_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    assigned_agent = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_conversations"
    )
    handed_off_at = models.DateTimeField(null=True, blank=True)
    handoff_reason = models.CharField(max_length=255, blank=True, default="")
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]

    def __str__(self) -> str:
        return f"Conversation with {self.contact}"


class Message(models.Model):
    """One WhatsApp message, inbound or outbound, with its delivery state.

    Inbound rows are unique on Meta's ``wamid`` (redeliveries insert nothing);
    outbound rows are unique on ``idempotency_key`` and get their ``wamid``
    when Meta accepts them.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    type = models.CharField(max_length=16, choices=MessageType.choices)
    body = models.TextField(blank=True, default="")
    payload_id = models.CharField(max_length=256, blank=True, default="")
    payload_title = models.CharField(max_length=256, blank=True, default="")
    # Inbound: Meta's message object. Outbound: the Graph /messages body we send.
    payload = models.JSONField(default=dict, blank=True)
    wamid = models.CharField(max_length=255, null=True, blank=True, unique=True)
    context_wamid = models.CharField(max_length=255, blank=True, default="")
    reaction_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reactions")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, db_index=True)
    # Meta's own send time for inbound messages (webhook `timestamp`); creation time for outbound.
    timestamp = models.DateTimeField(db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True, default="")
    error_details = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    media_id = models.CharField(max_length=128, blank=True, default="")
    media_mime_type = models.CharField(max_length=128, blank=True, default="")
    media_filename = models.CharField(max_length=255, blank=True, default="")
    media_sha256 = models.CharField(max_length=128, blank=True, default="")
    media_status = models.CharField(max_length=16, choices=MediaStatus.choices, blank=True, default="")
    media_file = models.FileField(upload_to="media/%Y/%m/", blank=True, default="")
    media_error = models.CharField(max_length=255, blank=True, default="")
    sent_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The engine's opt-out and opt-in confirmations: the only messages that go to a contact
    # who opted out (checked again when the send is claimed, not only when it is queued).
    allow_opted_out = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [
            models.Index(fields=["conversation", "timestamp"]),
            # The engine's sweep of inbound messages still owed an answer (engine/claims.py).
            models.Index(fields=["created_at"], name="message_inbound_created", condition=Q(direction="in")),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.type} {self.wamid or self.pk}"


class OutboundMessage(Message):
    """The outbound messages, as staff see the send queue and its dead letters in the admin.

    A proxy (no table of its own) so the admin can show outbound rows apart from the
    inbound ones; filter on ``direction`` when querying it.
    """

    class Meta:
        proxy = True
        verbose_name = "outbound message"


class PendingStatus(models.Model):
    """A status webhook for a wamid we have not stored yet; applied when it appears."""

    wamid = models.CharField(max_length=255, db_index=True)
    status = models.CharField(max_length=16)
    timestamp = models.DateTimeField()
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True, default="")
    error_details = models.TextField(blank=True, default="")
    biz_opaque_callback_data = models.CharField(max_length=512, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["wamid", "status"], name="pending_status_once")]

    def __str__(self) -> str:
        return f"{self.status} for {self.wamid}"
