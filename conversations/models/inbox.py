"""What the team's inbox adds to a conversation: read state, notes, labels, saved replies, activity.

Kept apart from ``core`` (the WhatsApp record itself): nothing here is ever sent to Meta.
"""

from django.db import models
from django.db.models import Q


class InboxSettings(models.Model):
    """The tenant's inbox preferences (one row, pk 1)."""

    SINGLETON_PK = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_PK, editable=False)
    # Blue ticks on the customer's phone when a teammate opens the conversation (FACTS §2.2).
    mark_read_on_open = models.BooleanField(
        default=True, help_text="Opening a conversation marks its messages read on the customer's phone."
    )
    typing_indicator = models.BooleanField(
        default=False, help_text="Show 'typing…' to the customer while a teammate writes a reply."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "inbox settings"
        verbose_name_plural = "inbox settings"

    def __str__(self) -> str:
        return "Inbox settings"


class InboxState(models.Model):
    """The team's bookkeeping of one conversation: how far it was read, resolved or not.

    Shared by the whole team (like Chatwoot's ``agent_last_seen_at``): a message read by one
    teammate is read for all. A resolved conversation counts as open again as soon as the
    customer writes after ``resolved_at`` (computed, so inbound never has to write here).
    """

    conversation = models.OneToOneField(
        "conversations.Conversation", primary_key=True, on_delete=models.CASCADE, related_name="inbox_state"
    )
    # Inbound messages with a greater id are unread.
    last_read_message_id = models.BigIntegerField(default=0)
    # That message's time: compared with Contact.last_inbound_at, it tells "has unread" without
    # counting messages, which keeps the tab-title total cheap on a tenant with many chats.
    last_read_at = models.DateTimeField(null=True, blank=True)
    marked_unread = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"state of conversation {self.conversation_id}"


class Label(models.Model):
    """A tag the team puts on conversations ("vip", "refund")."""

    class Colour(models.TextChoices):
        GREY = "grey"
        GREEN = "green"
        BLUE = "blue"
        VIOLET = "violet"
        ORANGE = "orange"
        RED = "red"

    name = models.CharField(max_length=40, unique=True)
    colour = models.CharField(max_length=8, choices=Colour.choices, default=Colour.GREY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConversationLabel(models.Model):
    """A label on a conversation (once)."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="conversation_labels"
    )
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "label"], name="conversation_label_once")]

    def __str__(self) -> str:
        return f"{self.label_id} on {self.conversation_id}"


class CannedResponse(models.Model):
    """A saved reply a teammate inserts by typing ``/shortcut`` in the composer."""

    shortcut = models.SlugField(max_length=40, unique=True)
    title = models.CharField(max_length=100, blank=True, default="")
    body = models.TextField(max_length=4096)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class ConversationActivity(models.Model):
    """Something the team did on a conversation, shown in the thread: who, what, when.

    Private notes are activities too (``kind=note``, text in ``body``); they are never sent.
    Takeover and return-to-bot are recorded by the engine as ``HandoffEvent`` and shown from there.
    """

    class Kind(models.TextChoices):
        NOTE = "note", "Private note"
        ASSIGN = "assign", "Assigned"
        UNASSIGN = "unassign", "Unassigned"
        RESOLVE = "resolve", "Resolved"
        REOPEN = "reopen", "Reopened"
        LABEL_ADD = "label_add", "Label added"
        LABEL_REMOVE = "label_remove", "Label removed"
        MARK_UNREAD = "mark_unread", "Marked unread"

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="inbox_activities"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(blank=True, default="", max_length=4096)
    # What the action was about: the assignee's name, the label's name.
    detail = models.CharField(max_length=255, blank=True, default="")
    # Notes, like messages, are submitted with a key so a double submit stores one.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["conversation", "at"]), models.Index(fields=["at"])]
        constraints = [
            models.CheckConstraint(condition=~Q(kind="note") | ~Q(body=""), name="inbox_note_has_body"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.conversation_id}"
