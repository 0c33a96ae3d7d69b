"""A reaction stored before the message it reacts to is linked when that message arrives (issue 13 §2)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Message
from conversations.services.inbound import inbound_part_store
from conversations.tests.inbound_support import contact, envelope, text_message, unique_wa_id, unique_wamid
from conversations.whatsapp.parsing import parse_webhook

BASE = 1_749_416_400


def _reaction(wa_id: str, target: str, *, timestamp: int) -> dict:
    return {
        "from": wa_id,
        "id": unique_wamid(),
        "timestamp": str(timestamp),
        "type": "reaction",
        "reaction": {"message_id": target, "emoji": "\N{THUMBS UP SIGN}"},
    }


def _part(wa_id: str, *messages: dict):
    return parse_webhook(envelope(contacts=[contact(wa_id)], messages=list(messages))).messages


def test_a_reaction_that_arrived_first_is_linked_when_its_message_is_stored(in_alpha):
    wa_id = unique_wa_id()
    target = text_message(wa_id, "the invoice", timestamp=BASE)
    early = _reaction(wa_id, target["id"], timestamp=BASE + 5)
    inbound_part_store(messages=_part(wa_id, early))
    assert Message.objects.get(wamid=early["id"]).reaction_to_id is None

    (stored,) = inbound_part_store(messages=_part(wa_id, target))
    assert Message.objects.get(wamid=early["id"]).reaction_to_id == stored.pk


def test_another_senders_waiting_reaction_is_not_taken(in_alpha):
    wa_id, stranger = unique_wa_id(), unique_wa_id()
    target = text_message(wa_id, "mine", timestamp=BASE)
    foreign = _reaction(stranger, target["id"], timestamp=BASE + 5)
    inbound_part_store(messages=_part(stranger, foreign))
    inbound_part_store(messages=_part(wa_id, target))
    assert Message.objects.get(wamid=foreign["id"]).reaction_to_id is None


def test_linking_costs_a_statement_only_when_a_reaction_waits(in_alpha):
    wa_id = unique_wa_id()
    inbound_part_store(messages=_part(wa_id, text_message(wa_id, "first", timestamp=BASE)))
    with CaptureQueriesContext(connection) as plain:
        inbound_part_store(messages=_part(wa_id, text_message(wa_id, "second", timestamp=BASE + 1)))
    target = text_message(wa_id, "third", timestamp=BASE + 2)
    inbound_part_store(messages=_part(wa_id, _reaction(wa_id, target["id"], timestamp=BASE + 3)))
    with CaptureQueriesContext(connection) as linking:
        inbound_part_store(messages=_part(wa_id, target))
    assert len(linking) == len(plain) + 1
    assert linking.captured_queries[-1]["sql"].startswith("UPDATE")
