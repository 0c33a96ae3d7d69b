"""Server-side parameter binding (settings/base.py): it is on, and the bulk statements'
binary arrays (``%b``, bizmitra/db.py) keep every value."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection

from bizmitra.db import insert_many
from conversations.choices import Direction, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message


def test_server_side_binding_is_on():
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True


def test_binary_arrays_keep_text_json_times_and_nulls(in_alpha):
    contact = Contact.objects.create(wa_id="919800000043", profile_name="Binary")
    conversation = Conversation.objects.create(contact=contact, phone_number_id="binary-test")
    at = datetime(2026, 12, 7, 8, 0, 0, 123456, tzinfo=UTC)
    rows = [
        Message(
            conversation=conversation,
            direction=Direction.INBOUND,
            type=MessageType.TEXT,
            wamid=f"wamid.binary-{n}",
            body=body,
            payload={"text": {"body": body}, "n": n},
            status=MessageStatus.RECEIVED,
            timestamp=at,
            context_wamid="",
            idempotency_key=None,
        )
        for n, body in enumerate(["plain", "quote ' and \" and \\ backslash", "{braces,commas}", "नमस्ते 🙏", ""])
    ]
    insert_many(Message, rows)
    for row in rows:
        stored = Message.objects.get(pk=row.pk)
        assert (stored.body, stored.payload, stored.timestamp, stored.idempotency_key) == (
            row.body,
            row.payload,
            at,
            None,
        )
