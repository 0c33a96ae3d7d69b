"""Rows the leads tests need (call inside a tenant schema)."""

import itertools
import random
from datetime import datetime

from django.utils import timezone

from conversations.choices import Direction, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message
from tenants.services import owner_create

_sequence = itertools.count(1)


def unique_mobile() -> str:
    """A valid Indian mobile number in E.164 that no other test uses."""
    return f"+9198{random.randint(0, 99_999_999):08d}"


def make_contact(*, wa_id: str | None = None, profile_name: str = "Ravi") -> Contact:
    wa_id = wa_id or unique_mobile().lstrip("+")
    contact = Contact.objects.create(wa_id=wa_id, profile_name=profile_name)
    Conversation.objects.create(contact=contact, phone_number_id="106540352242922")
    return contact


def make_message(
    *,
    contact: Contact,
    direction: str = Direction.INBOUND,
    body: str = "hello",
    type: str = MessageType.TEXT,  # noqa: A002 - mirrors the model field
    at: datetime | None = None,
    payload_id: str = "",
    payload_title: str = "",
) -> Message:
    n = next(_sequence)
    return Message.objects.create(
        conversation=contact.conversation,
        direction=direction,
        type=type,
        body=body,
        payload_id=payload_id,
        payload_title=payload_title,
        wamid=f"wamid.test-{n}-{random.randint(0, 10**9)}",
        status=MessageStatus.RECEIVED if direction == Direction.INBOUND else MessageStatus.SENT,
        timestamp=at or timezone.now(),
    )


def make_agent(email: str | None = None):
    return owner_create(email=email or f"agent{next(_sequence)}@alpha.test", password="agent-password", is_owner=False)
