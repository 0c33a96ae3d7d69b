"""The engine's batch delivery (``outbound_delivery.messages_deliver``, issue 9): many queued
replies claimed, sent concurrently to the Graph sandbox over HTTP and recorded with a few
statements — in order within a conversation, each refusal or error settled as one send
would settle it, and the parked statuses of all of them applied.

In-process against the session's sandbox (the send threads make real HTTP calls; the
database work stays on the test's thread and connection).
"""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.choices import MessageStatus
from conversations.models import Contact, Conversation, Message, PendingStatus
from conversations.services.outbound import reply_queue
from conversations.services.outbound_delivery import message_deliver, messages_deliver
from conversations.services.statuses import pending_statuses_apply_many
from tests.tenancy import ALPHA

SCHEMA = ALPHA["schema_name"]
PHONE_NUMBER_ID = ALPHA["phone_number_id"]


@pytest.fixture
def graph(graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    return graph_sandbox


@pytest.fixture
def tenant(alpha, db):
    with schema_context(SCHEMA):
        yield


def conversation() -> Conversation:
    wa_id = f"1555{uuid.uuid4().int % 10**7:07d}"
    contact = Contact.objects.create(wa_id=wa_id, last_inbound_at=timezone.now() - timedelta(minutes=5))
    return Conversation.objects.create(contact=contact, phone_number_id=PHONE_NUMBER_ID)


def replies(conv: Conversation, count: int) -> list[Message]:
    key = uuid.uuid4().hex
    return [
        reply_queue(conversation=conv, type="text", content=f"part {n}", idempotency_key=f"reply:{key}:{n}")
        for n in range(count)
    ]


def sends_to(sandbox, conv: Conversation) -> list[int]:
    """Our ids of what the sandbox accepted for this conversation, in the order it got them."""
    return [
        int(r["payload"]["biz_opaque_callback_data"].removeprefix("bzm:"))
        for r in sandbox.sent_messages
        if r["wa_id"] == conv.contact.wa_id
    ]


def test_a_batch_is_sent_and_recorded_with_the_same_few_statements_whatever_its_size(tenant, graph):
    warm = replies(conversation(), 1)  # the per-process number cache, read once
    message_deliver(message_id=warm[0].pk)

    def statements_for(size: int) -> int:
        messages = [m for _ in range(size) for m in replies(conversation(), 1)]
        with CaptureQueriesContext(connection) as queries:
            outcomes = messages_deliver(message_ids=[m.pk for m in messages])
        assert [o.result for o in outcomes] == ["sent"] * size
        for message in messages:
            message.refresh_from_db()
            assert message.status == MessageStatus.SENT and message.wamid and message.attempts == 1
        return len(queries)

    small, large = statements_for(3), statements_for(12)
    # read, claim, record; the parked statuses in one transaction (lock, read)
    assert small == large <= 7


def test_the_replies_of_one_conversation_go_out_in_order_beside_the_others(tenant, graph):
    first, second = conversation(), conversation()
    a, b = replies(first, 3), replies(second, 3)
    interleaved = [a[0], b[0], a[1], b[1], a[2], b[2]]
    outcomes = messages_deliver(message_ids=[m.pk for m in interleaved])
    assert [o.result for o in outcomes] == ["sent"] * 6
    assert sends_to(graph, first) == [m.pk for m in a]
    assert sends_to(graph, second) == [m.pk for m in b]


def test_a_retried_reply_holds_the_rest_of_its_answer_and_nobody_elses(tenant, graph):
    limited, other = conversation(), conversation()
    graph.fail_next(130429, to=f"+{limited.contact.wa_id}")  # Meta's per-number throughput error
    held, free = replies(limited, 3), replies(other, 2)
    outcomes = messages_deliver(message_ids=[m.pk for m in held + free])
    results = [o.result for o in outcomes]
    assert results == ["retry", "held", "held", "sent", "sent"]
    # the held ones follow the retried one, not before it
    assert outcomes[1].retry_in == outcomes[2].retry_in == outcomes[0].retry_in > 0
    rows = {m.pk: Message.objects.get(pk=m.pk) for m in held}
    assert rows[held[0].pk].status == MessageStatus.QUEUED and rows[held[0].pk].attempts == 1
    assert rows[held[0].pk].error_code == 130429
    for message in held[1:]:
        assert rows[message.pk].status == MessageStatus.QUEUED and rows[message.pk].attempts == 0
    assert sends_to(graph, limited) == []
    assert sends_to(graph, other) == [m.pk for m in free]


def test_a_permanent_error_fails_that_reply_and_the_answer_goes_on(tenant, graph):
    conv = conversation()
    graph.fail_next(131026, to=f"+{conv.contact.wa_id}")  # message undeliverable
    messages = replies(conv, 2)
    outcomes = messages_deliver(message_ids=[m.pk for m in messages])
    assert [o.result for o in outcomes] == ["failed", "sent"]
    failed = Message.objects.get(pk=messages[0].pk)
    assert failed.status == MessageStatus.FAILED and failed.error_code == 131026
    assert sends_to(graph, conv) == [messages[1].pk]


def test_an_unanswered_call_is_left_in_doubt_not_resent(tenant, graph):
    conv = conversation()
    graph.drop_connection_next(after_processing=True, to=f"+{conv.contact.wa_id}")
    messages = replies(conv, 2)
    outcomes = messages_deliver(message_ids=[m.pk for m in messages])
    assert [o.result for o in outcomes] == ["in_doubt", "sent"]
    doubtful = Message.objects.get(pk=messages[0].pk)
    assert doubtful.status == MessageStatus.SENDING and doubtful.wamid is None
    assert doubtful.error_title == "No answer from the Graph API"


def test_a_contact_who_opted_out_gets_nothing_and_the_others_get_theirs(tenant, graph):
    stopped, fine = conversation(), conversation()
    quiet, answered = replies(stopped, 1), replies(fine, 1)
    Contact.objects.filter(pk=stopped.contact_id).update(opted_out_at=timezone.now())
    outcomes = messages_deliver(message_ids=[quiet[0].pk, answered[0].pk])
    assert [o.result for o in outcomes] == ["opted_out", "sent"]
    assert Message.objects.get(pk=quiet[0].pk).status == MessageStatus.FAILED
    assert sends_to(graph, stopped) == []


def test_a_batch_delivered_twice_sends_each_reply_once(tenant, graph):
    conv = conversation()
    messages = replies(conv, 2)
    ids = [m.pk for m in messages]
    assert [o.result for o in messages_deliver(message_ids=ids)] == ["sent", "sent"]
    assert [o.result for o in messages_deliver(message_ids=ids)] == ["skipped", "skipped"]
    assert sends_to(graph, conv) == ids


def test_statuses_parked_before_the_wamids_were_recorded_are_applied(tenant):
    conv = conversation()
    messages = replies(conv, 2)
    now = timezone.now()
    for n, message in enumerate(messages):
        Message.objects.filter(pk=message.pk).update(status=MessageStatus.SENT, wamid=f"wamid.parked{n}{message.pk}")
        message.refresh_from_db()
    PendingStatus.objects.create(wamid=messages[0].wamid, status="read", timestamp=now)
    PendingStatus.objects.create(wamid=messages[0].wamid, status="delivered", timestamp=now - timedelta(seconds=1))
    pending_statuses_apply_many(messages=messages)
    first, second = (Message.objects.get(pk=m.pk) for m in messages)
    assert first.status == MessageStatus.READ and first.delivered_at and first.read_at
    assert second.status == MessageStatus.SENT
    assert not PendingStatus.objects.filter(wamid=messages[0].wamid).exists()
