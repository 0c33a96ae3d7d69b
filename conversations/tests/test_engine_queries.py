"""SQL statements per engine decision, pinned (issue 9: a rule or built-in decision in ≤ 8).

Counts are deterministic, so they belong in a test (times go in bench/pipeline_burst.py).
The decision runs in-process on committed rows (``live_db``), as in the worker: bots and
flows come from the per-process snapshots, warmed by a first message as they are in a
running worker.
"""

import uuid

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.choices import Direction, MessageStatus, MessageType
from conversations.engine.batch import decide_batch
from conversations.engine.claims import lock_key
from conversations.engine.replying import deliver_replies
from conversations.engine.services import engine_decide, engine_handle_messages
from conversations.models import Contact, Conversation, ConversationState, EngineDecision, Message
from conversations.tests.engine_support import Flows, bot_reset, token
from tests.tenancy import ALPHA

Path = EngineDecision.Path
MAX_DECISION_QUERIES = 8


@pytest.fixture
def flows(alpha, live_db):
    flows = Flows(alpha.tenant.schema_name)
    yield flows
    flows.cleanup()
    bot_reset(alpha.tenant.schema_name)


def _inbound(schema: str, wa_id: str, text: str) -> Message:
    """An inbound text stored as the ingest stores it, but without its ``messages.received``
    event: the session's worker answers that event, and must not decide these first."""
    now = timezone.now()
    with schema_context(schema):
        contact, _ = Contact.objects.get_or_create(
            wa_id=wa_id, defaults={"profile_name": "Asha Rao", "last_inbound_at": now}
        )
        Contact.objects.filter(pk=contact.pk).update(last_inbound_at=now)
        conversation, _ = Conversation.objects.get_or_create(
            contact=contact, defaults={"phone_number_id": ALPHA["phone_number_id"], "last_message_at": now}
        )
        return Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type=MessageType.TEXT,
            body=text,
            wamid=f"wamid.Q{uuid.uuid4().hex}",
            status=MessageStatus.RECEIVED,
            timestamp=now,
        )


def _wa_id() -> str:
    return "1555" + str(uuid.uuid4().int)[:9]


class _Count(int):
    """A statement count that shows the statements when an assertion on it fails."""

    statements: list[str]

    def __repr__(self) -> str:
        return f"{int(self)}: " + " | ".join(sql[:80] for sql in self.statements)


def _count(schema: str, message: Message) -> tuple[EngineDecision, list[int], int]:
    with schema_context(schema):
        # A worker task sets the schema's search_path once for a whole batch of messages.
        connection.cursor().execute("SELECT 1")
        with CaptureQueriesContext(connection) as queries:
            decision, reply_ids = engine_decide(message=message)
    count = _Count(len(queries.captured_queries))
    count.statements = [q["sql"] for q in queries.captured_queries]
    return decision, reply_ids, count


def _warm(schema: str, text: str) -> None:
    # Two messages: the first may create the default bot, which changes the configuration.
    for _ in range(2):
        _count(schema, _inbound(schema, _wa_id(), text))


def test_a_rule_decision_takes_at_most_eight_queries(alpha, flows):
    schema = alpha.tenant.schema_name
    word = token()
    menu = flows.buttons(f"Hi {{{{first_name}}}}! What would you like, {word}?", ["Prices", "Hours", "Talk to us"])
    flows.rule(f"hello{word}", menu)
    _warm(schema, f"hello{word}")  # builds the snapshots, as a running worker has them

    message = _inbound(schema, _wa_id(), f"hello{word}")
    decision, reply_ids, count = _count(schema, message)

    assert decision.path == Path.RULE and len(reply_ids) == 1
    assert count <= MAX_DECISION_QUERIES, f"{count} queries for a rule decision"
    with schema_context(schema):
        reply = Message.objects.get(pk=reply_ids[0])
        assert reply.status == MessageStatus.QUEUED and reply.idempotency_key == f"reply:{message.wamid}"
        assert reply.payload["interactive"]["body"]["text"].startswith("Hi Asha!")


def test_a_builtin_stop_takes_at_most_eight_queries(alpha, flows):
    schema = alpha.tenant.schema_name
    _warm(schema, "hi")

    message = _inbound(schema, _wa_id(), "STOP")
    decision, reply_ids, count = _count(schema, message)

    assert decision.path == Path.BUILTIN and "opted out" in decision.reason
    assert count <= MAX_DECISION_QUERIES, f"{count} queries for the opt-out decision"
    with schema_context(schema):
        assert Message.objects.get(pk=message.pk).conversation.contact.opted_out_at is not None


def test_a_second_run_of_a_decided_message_changes_nothing(alpha, flows):
    schema = alpha.tenant.schema_name
    word = token()
    flows.rule(f"again{word}", flows.text(f"Once only {word}"))
    message = _inbound(schema, _wa_id(), f"again{word}")
    first, reply_ids, _ = _count(schema, message)
    second, again_ids, count = _count(schema, message)

    assert second.pk == first.pk and again_ids == []
    assert count <= 4  # BEGIN, lock, read, COMMIT: nothing written
    with schema_context(schema):
        assert Message.objects.filter(idempotency_key__startswith=f"reply:{message.wamid}").count() == 1


def test_replies_queued_by_the_fast_path_go_out_once_through_the_sandbox(alpha, flows, graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    schema = alpha.tenant.schema_name
    word = token()
    flows.rule(f"send{word}", flows.text(f"Sent inline {word}"))
    message = _inbound(schema, _wa_id(), f"send{word}")
    _, reply_ids, _ = _count(schema, message)
    with schema_context(schema):
        deliver_replies(reply_ids)
        deliver_replies(reply_ids)  # a second delivery (a sweep, a duplicate task) sends nothing
        reply = Message.objects.get(pk=reply_ids[0])
    assert reply.status == MessageStatus.SENT and reply.wamid
    sent = [r for r in graph_sandbox.sent_messages if r["payload"].get("biz_opaque_callback_data") == f"bzm:{reply.pk}"]
    assert len(sent) == 1 and sent[0]["payload"]["text"]["body"] == f"Sent inline {word}"


# --- batched decisions (conversations/engine/batch.py) ----------------------------------------

MAX_BATCH_QUERIES = 12  # for any number of messages of distinct conversations


def _count_batch(schema: str, messages: list[Message]):
    with schema_context(schema):
        connection.cursor().execute("SELECT 1")
        with CaptureQueriesContext(connection) as queries:
            result = decide_batch([m.pk for m in messages])
    count = _Count(len(queries.captured_queries))
    count.statements = [q["sql"] for q in queries.captured_queries]
    return result, count


def test_twenty_rule_decisions_of_a_batch_take_a_dozen_statements_in_all(alpha, flows):
    schema = alpha.tenant.schema_name
    word = token()
    menu = flows.buttons(f"Hi {{{{first_name}}}}! Pick one, {word}", ["Prices", "Hours"])
    flows.rule(f"batch{word}", menu)
    _warm(schema, f"batch{word}")

    messages = [_inbound(schema, _wa_id(), f"batch{word}") for _ in range(20)]
    result, count = _count_batch(schema, messages)

    assert sorted(result.decided) == sorted(m.pk for m in messages) and result.left == []
    assert count <= MAX_BATCH_QUERIES, f"{count} statements for 20 decisions"
    with schema_context(schema):
        decisions = EngineDecision.objects.filter(message__in=messages)
        assert decisions.count() == 20 and {d.path for d in decisions} == {Path.RULE}
        for message in messages:
            decision = decisions.get(message=message)
            [reply] = Message.objects.filter(pk__in=decision.reply_message_ids)
            assert reply.idempotency_key == f"reply:{message.wamid}" and reply.status == MessageStatus.QUEUED
            assert reply.payload["interactive"]["body"]["text"].startswith("Hi Asha!")
            state = ConversationState.objects.get(contact_id=message.conversation.contact_id)
            assert state.last_template_id == menu.pk
        assert sorted(result.reply_ids) == sorted(pk for d in decisions for pk in d.reply_message_ids)


def test_a_batch_leaves_what_needs_more_than_replies_and_the_second_message_of_a_conversation(alpha, flows):
    schema = alpha.tenant.schema_name
    word = token()
    flows.rule(f"left{word}", flows.text(f"Plain answer {word}"))
    _warm(schema, f"left{word}")
    plain = [_inbound(schema, _wa_id(), f"left{word}") for _ in range(3)]
    stop = _inbound(schema, _wa_id(), "STOP")  # opt-out writes the contact: not batched
    second_wa = plain[0].conversation.contact.wa_id
    second = _inbound(schema, second_wa, f"left{word}")  # same conversation as plain[0]

    result, _ = _count_batch(schema, [*plain, stop, second])

    assert sorted(result.decided) == sorted(m.pk for m in plain)
    assert result.left == [stop.pk, second.pk]  # in the order they came
    with schema_context(schema):
        assert not EngineDecision.objects.filter(message__in=[stop, second]).exists()
        assert Contact.objects.get(pk=stop.conversation.contact_id).opted_out_at is None


def test_messages_decided_already_are_not_decided_again_by_a_batch(alpha, flows):
    schema = alpha.tenant.schema_name
    word = token()
    flows.rule(f"twice{word}", flows.text(f"Once {word}"))
    messages = [_inbound(schema, _wa_id(), f"twice{word}") for _ in range(4)]
    first, _ = _count_batch(schema, messages)
    again, count = _count_batch(schema, messages)

    assert len(first.decided) == 4 and again.decided == [] and sorted(again.done) == sorted(m.pk for m in messages)
    with schema_context(schema):
        for message in messages:
            assert Message.objects.filter(idempotency_key__startswith=f"reply:{message.wamid}").count() == 1


def test_a_conversation_locked_elsewhere_is_left_to_the_one_message_path(alpha, flows):
    schema = alpha.tenant.schema_name
    word = token()
    flows.rule(f"busy{word}", flows.text(f"Busy {word}"))
    messages = [_inbound(schema, _wa_id(), f"busy{word}") for _ in range(3)]
    busy = messages[1]
    with schema_context(schema):
        holder = connections.create_connection("default")
        try:
            with holder.cursor() as cursor:
                cursor.execute(f"SET search_path TO {schema}, public")
                cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [lock_key(busy.conversation_id)])
            result, _ = _count_batch(schema, messages)
        finally:
            holder.close()
    assert result.left == [busy.pk] and sorted(result.decided) == sorted([messages[0].pk, messages[2].pk])


def test_messages_waiting_for_earlier_ones_are_decided_in_batches_in_order(alpha, flows, graph_sandbox, settings):
    # Behind a backlog (issue 13 §1) a task's messages mostly have an earlier one of their
    # conversation still owed: the earlier ones go first, in a batch, then the task's own in
    # another — two decision INSERTs in all, not one per message.
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    schema = alpha.tenant.schema_name
    word = token()
    flows.rule(f"order{word}", flows.text(f"In order {word}"))
    _warm(schema, f"order{word}")
    firsts = [_inbound(schema, _wa_id(), f"order{word}") for _ in range(5)]
    seconds = [_inbound(schema, m.conversation.contact.wa_id, f"order{word}") for m in firsts]

    with schema_context(schema):
        connection.cursor().execute("SELECT 1")
        with CaptureQueriesContext(connection) as queries:
            decided = engine_handle_messages(message_ids=[m.pk for m in seconds])
        inserts = [
            q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"] and "enginedecision" in q["sql"]
        ]
        assert decided == 10
        assert len(inserts) == 2, inserts
        for first, second in zip(firsts, seconds, strict=True):
            earlier = EngineDecision.objects.get(message=first)
            later = EngineDecision.objects.get(message=second)
            assert earlier.finished_at < later.finished_at
            [one] = Message.objects.filter(pk__in=earlier.reply_message_ids)
            [two] = Message.objects.filter(pk__in=later.reply_message_ids)
            assert one.pk < two.pk  # the earlier message's reply is stored (and sent) first
