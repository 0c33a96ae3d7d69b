"""Helpers for the AI assistant's tests: conversations with history, Redis clean-up."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from conversations.ai.store import redis_client
from conversations.choices import Direction, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message

PHONE_NUMBER_ID = "106540352242922"


def ai_redis_clear() -> None:
    """Delete this run's AI keys (memory, counters); other runs' keys have other prefixes."""
    client = redis_client()
    pattern = f"{settings.CACHES['default']['KEY_PREFIX']}:ai:*"
    keys = list(client.scan_iter(match=pattern, count=500))
    if keys:
        client.delete(*keys)


def conversation_make(*, name: str = "Asha") -> Conversation:
    wa_id = "9198" + str(uuid.uuid4().int)[:8]
    contact = Contact.objects.create(wa_id=wa_id, profile_name=name)
    return Conversation.objects.create(contact=contact, phone_number_id=PHONE_NUMBER_ID)


def message_add(conversation: Conversation, body: str, *, inbound: bool = True, at=None) -> Message:
    at = at or timezone.now()
    return Message.objects.create(
        conversation=conversation,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        type=MessageType.TEXT,
        body=body,
        wamid=f"wamid.AI{uuid.uuid4().hex}" if inbound else None,
        idempotency_key=None if inbound else f"ai-test-{uuid.uuid4().hex}",
        status=MessageStatus.RECEIVED if inbound else MessageStatus.SENT,
        timestamp=at,
    )


def history_add(conversation: Conversation, count: int) -> list[Message]:
    """``count`` alternating customer/business messages, a minute apart, ending a minute ago."""
    start = timezone.now() - timedelta(minutes=count + 1)
    return [
        message_add(conversation, f"history {i}", inbound=i % 2 == 0, at=start + timedelta(minutes=i))
        for i in range(count)
    ]
