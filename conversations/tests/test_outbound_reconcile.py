"""Sends whose answer from Meta was lost are reconciled before anything is resent, and Meta's
pair rate limit (131056) holds one recipient for at least 6 s — a real Celery worker against
the Graph sandbox, failures aimed at each test's own recipient.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.choices import MessageStatus
from conversations.models import Message
from conversations.ratelimit import PAIR_MIN_BACKOFF_SECONDS, PairBackoff
from conversations.services.outbound_delivery import messages_reconcile
from conversations.services.statuses import status_apply
from conversations.tests.test_outbound import (
    PHONE_NUMBER_ID,
    SCHEMA,
    TEMPLATE,
    fetch,
    open_conversation,
    queued_row,
    send,
    sends_of,
    status_webhook,
    unique_phone,
    wait_until,
)
from tests.support import wait_for

pytestmark = pytest.mark.worker


@pytest.fixture
def graph(graph_sandbox, settings):
    """The session's sandbox, also for Graph calls made in this process."""
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    return graph_sandbox


def lost_answer(graph, phone: str, type_: str = "text", content=None) -> Message:
    """A send Meta accepted whose answer never came back, and no status either (the session's
    sandbox posts no status webhooks): the worker leaves the row in ``sending``."""
    graph.drop_connection_next(after_processing=True, to=phone)
    message = send(phone, type_, content)
    wait_for(lambda: sends_of(graph, message.pk), timeout=30, what="the sandbox to record the send")
    in_doubt = wait_for(
        lambda: (m := fetch(message.pk)).error_title and m, timeout=30, what="the worker to give up on the answer"
    )
    assert in_doubt.status == MessageStatus.SENDING and in_doubt.wamid is None
    return in_doubt


def test_a_free_text_reply_in_doubt_without_evidence_is_marked_unknown_not_sent_twice(live_db, celery_worker, graph):
    phone = unique_phone()
    open_conversation(phone)
    message = lost_answer(graph, phone)
    with schema_context(SCHEMA):
        assert messages_reconcile().unknown == 0  # within the 2 minutes Meta's status may still come
        result = messages_reconcile(stuck_after=timedelta(0))
    assert result.unknown == 1 and result.requeued == 0
    unknown = fetch(message.pk)
    assert unknown.status == MessageStatus.UNKNOWN and unknown.error_title.startswith("Unknown — check")
    assert unknown.get_status_display() == "Unknown — check"
    with schema_context(SCHEMA):
        assert messages_reconcile(stuck_after=timedelta(0)) == type(result)()  # nothing left to settle
    assert len(sends_of(graph, message.pk)) == 1

    # Meta's status turns up after all: it names our row, which takes the wamid and moves on.
    [record] = sends_of(graph, message.pk)
    with schema_context(SCHEMA):
        status_apply(update=status_webhook(record, "delivered"))
    settled = fetch(message.pk)
    assert settled.status == MessageStatus.DELIVERED and settled.wamid == record["wamid"]


def test_a_status_for_the_lost_answer_records_its_wamid_and_the_sweep_resends_nothing(live_db, celery_worker, graph):
    phone = unique_phone()
    open_conversation(phone)
    message = lost_answer(graph, phone)
    [record] = sends_of(graph, message.pk)
    # Meta's status names our row by biz_opaque_callback_data (the row has no wamid yet).
    with schema_context(SCHEMA):
        status_apply(update=status_webhook(record, "sent"))
        result = messages_reconcile(stuck_after=timedelta(0))
    assert result.requeued == 0 and result.unknown == 0
    sent = fetch(message.pk)
    assert sent.status == MessageStatus.SENT and sent.wamid == record["wamid"]
    assert len(sends_of(graph, message.pk)) == 1


def test_a_template_in_doubt_without_evidence_is_sent_again(live_db, celery_worker, graph):
    phone = unique_phone()
    open_conversation(phone)
    graph.drop_connection_next(to=phone)  # closed before Meta processed it: nothing went out
    message = send(phone, "template", TEMPLATE)
    wait_for(lambda: fetch(message.pk).error_title, timeout=30, what="the worker to give up on the answer")
    with schema_context(SCHEMA):
        assert messages_reconcile(stuck_after=timedelta(0)).requeued == 1
    message = wait_until(message.pk)
    assert message.status == MessageStatus.SENT and message.attempts == 2
    assert len(sends_of(graph, message.pk)) == 1


def test_a_pair_rate_limit_holds_that_recipient_for_six_seconds_and_nobody_else(live_db, celery_worker, graph):
    held, other = unique_phone(), unique_phone()
    for phone in (held, other):
        open_conversation(phone)
    graph.fail_next(code=131056, to=held)
    first = send(held, content="Your order is packed")
    failed = wait_for(
        lambda: (m := fetch(first.pk)).error_code == 131056 and m, timeout=30, what="the pair rate limit error"
    )
    refused_at = max(r["at"] for r in graph.requests if r["path"].endswith("/messages") and r["status"] == 400)
    assert failed.status == MessageStatus.QUEUED  # retried later, not failed
    assert (failed.next_attempt_at - failed.updated_at).total_seconds() >= PAIR_MIN_BACKOFF_SECONDS
    second = send(held, content="It ships tomorrow")
    elsewhere = send(other, content="Hello from Alpha")

    wait_until(elsewhere.pk)
    for message in (first, second):
        assert wait_until(message.pk, timeout=90).status == MessageStatus.SENT
    assert PairBackoff().wait(PHONE_NUMBER_ID, other) == 0.0  # the other recipient was never held
    for message in (first, second):
        [record] = sends_of(graph, message.pk)
        assert record["received_at_wall"] - refused_at >= PAIR_MIN_BACKOFF_SECONDS, "sent inside the pair backoff"
    assert fetch(elsewhere.pk).attempts == 1
    assert fetch(first.pk).attempts == 2 and fetch(second.pk).attempts == 1
    with schema_context(SCHEMA):
        PairBackoff().clear(PHONE_NUMBER_ID, held)


def test_pair_backoff_grows_as_meta_asks_and_never_below_six_seconds(live_db, settings):
    settings.WHATSAPP_SEND_RETRY_MAX_SECONDS = 300.0
    backoff, recipient = PairBackoff(prefix=f"pairtest-{uuid.uuid4().hex}"), "+15550001111"
    delays = [backoff.hit(PHONE_NUMBER_ID, recipient) for _ in range(5)]
    assert delays == [6.0, 6.0, 16.0, 64.0, 256.0]
    assert 250 < backoff.wait(PHONE_NUMBER_ID, recipient) <= 256
    assert backoff.wait(PHONE_NUMBER_ID, "+15550002222") == 0.0
    backoff.clear(PHONE_NUMBER_ID, recipient)


def test_a_person_can_send_an_unknown_message_again(live_db, celery_worker, graph):
    from conversations.services.outbound import message_retry

    phone = unique_phone()
    open_conversation(phone)
    message = lost_answer(graph, phone)
    with schema_context(SCHEMA):
        assert messages_reconcile(stuck_after=timedelta(0)).unknown == 1
        assert message_retry(message=fetch(message.pk)) is True
    again = wait_until(message.pk)
    assert again.status == MessageStatus.SENT and len(sends_of(graph, message.pk)) == 2


def test_a_reply_whose_worker_vanished_with_no_status_is_sent_again(live_db, celery_worker, graph):
    # SIGKILL or a lost broker between the claim and the answer, and no status in the whole
    # wait: Meta sends "sent" within seconds, so the request most likely never left.
    phone = unique_phone()
    message = queued_row(phone)
    with schema_context(SCHEMA):
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.SENDING, attempts=1, sending_started_at=timezone.now() - timedelta(minutes=3)
        )
        result = messages_reconcile()
    assert result.requeued == 1 and result.unknown == 0
    sent = wait_until(message.pk)
    assert sent.status == MessageStatus.SENT and len(sends_of(graph, message.pk)) == 1


def test_no_verdict_while_webhooks_that_may_hold_the_evidence_are_unread(db, tenants_setup):
    """After a restart the status that settles a send may sit in the webhook backlog: the sweep
    waits for it instead of resending (the chaos bench sent one reply twice before this)."""
    import json

    from conversations.tests.inbound_support import envelope, status_item
    from conversations.whatsapp import ingest

    phone = unique_phone()
    with schema_context(SCHEMA):
        message = queued_row(phone)
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.SENDING, attempts=1, sending_started_at=timezone.now() - timedelta(minutes=3)
        )
    wamid = f"wamid.backlog-{uuid.uuid4().hex}"
    item = status_item(wamid, "sent", timestamp=1, biz_opaque_callback_data=f"bzm:{message.pk}")
    delivery_id = ingest.delivery_store(body=json.dumps(envelope(statuses=[item])).encode())
    with schema_context(SCHEMA):
        result = messages_reconcile()
    assert result.requeued == 0 and result.unknown == 0
    assert fetch(message.pk).status == MessageStatus.SENDING
    ingest.delivery_process(delivery_id=delivery_id)  # the backlog is worked
    with schema_context(SCHEMA):
        assert messages_reconcile().requeued == 0
    settled = fetch(message.pk)
    assert settled.status == MessageStatus.SENT and settled.wamid == wamid
