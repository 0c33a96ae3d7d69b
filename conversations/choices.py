from django.db import models


class Direction(models.TextChoices):
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"


class MessageStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    # Meta's answer was lost and no status came back: it may or may not have gone out. Shown
    # as "Unknown — check" rather than risking a second copy (outbound_delivery.messages_reconcile).
    UNKNOWN = "unknown", "Unknown — check"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    PLAYED = "played", "Played"
    FAILED = "failed", "Failed"
    DEAD = "dead", "Dead-lettered"


# A status only ever moves up this ladder; failed/dead are terminal.
STATUS_RANK = {
    MessageStatus.RECEIVED: 0,
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.PLAYED: 5,
    MessageStatus.FAILED: 6,
    MessageStatus.DEAD: 7,
}


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open (bot)"
    HANDED_OFF = "handed_off", "Handed to a human"
    CLOSED = "closed", "Closed"


class MessageType(models.TextChoices):
    TEXT = "text"
    BUTTON_REPLY = "button_reply"
    LIST_REPLY = "list_reply"
    BUTTON = "button", "Template quick-reply"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    UNSUPPORTED = "unsupported"
    INTERACTIVE = "interactive"
    TEMPLATE = "template"
    MARK_READ = "mark_read"


class MediaStatus(models.TextChoices):
    NONE = "", "No media"
    PENDING = "pending", "Pending download"
    DOWNLOADED = "downloaded", "Downloaded"
    FAILED = "failed", "Download failed"
