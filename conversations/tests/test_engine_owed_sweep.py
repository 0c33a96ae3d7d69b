"""The owed-work sweep (issue 9 §2, tuned for issue 13 §1): what the broker lost is run again,
once per hold, and not while the engine's queue still holds work."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from conversations.choices import Direction, MessageStatus, MessageType
from conversations.engine.services import engine_owed_sweep
from conversations.models import Contact, Conversation, Message
from tests.support import scratch_queue
from tests.tenancy import ALPHA


@pytest.fixture
def owed(in_alpha):
    """Three inbound messages stored five minutes ago and never decided (their tasks lost).
    Not committed: a session worker never sees them, so they stay owed."""
    now = timezone.now()
    contact = Contact.objects.create(wa_id=f"91{uuid.uuid4().int % 10**10:010d}", last_inbound_at=now)
    conversation = Conversation.objects.create(
        contact=contact, phone_number_id=ALPHA["phone_number_id"], last_message_at=now
    )
    ids = [
        Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type=MessageType.TEXT,
            body=f"hello {n}",
            wamid=f"wamid.O{uuid.uuid4().hex}",
            status=MessageStatus.RECEIVED,
            timestamp=now,
        ).pk
        for n in range(3)
    ]
    Message.objects.filter(pk__in=ids).update(created_at=now - timedelta(minutes=5))
    return ids


@pytest.fixture
def engine_queue(settings):
    with scratch_queue(settings, "engine") as queue:
        yield queue


def _marked(ids):
    return {message_id for message_id in ids if cache.get(f"engine-owed:{message_id}") is not None}


def test_owed_messages_wait_while_the_engine_queue_holds_work(owed, engine_queue, settings):
    client, name = engine_queue
    settings.SWEEP_HOLD_QUEUED_TASKS = 3
    client.rpush(name, *[b"task"] * 3)
    assert engine_owed_sweep() == 0
    assert _marked(owed) == set()

    client.ltrim(name, 0, 0)  # the engine ran its queue down to one task
    assert engine_owed_sweep() >= 3
    assert _marked(owed) == set(owed)


def test_a_message_handed_over_is_not_handed_over_again_within_the_hold(owed, engine_queue):
    assert engine_owed_sweep() >= 3
    assert engine_owed_sweep() == 0
    cache.delete_many([f"engine-owed:{message_id}" for message_id in owed])  # the hold ran out
    assert engine_owed_sweep() == 3
