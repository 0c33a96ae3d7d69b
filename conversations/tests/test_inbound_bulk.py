"""Storing a part with multi-row upserts: constant statements, exactly-once, parallel deliveries."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context, tenant_context

from bizmitra.db import insert_many, insert_on_conflict
from bizmitra.events import listens_to
from conversations.choices import ConversationStatus, Direction, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message
from conversations.services.inbound import inbound_part_store
from conversations.tests.inbound_support import (
    EventRecorder,
    contact,
    envelope,
    image_message,
    text_message,
    unique_wa_id,
    unique_wamid,
)
from conversations.whatsapp.parsing import InboundMessage, parse_webhook
from tests.support import wait_for

events = EventRecorder()
listens_to("message.received", "messages.received")(events)

BASE = 1_749_416_400


@pytest.fixture(autouse=True)
def _clear_events():
    events.clear()
    yield
    events.clear()


def parsed(messages: list[dict], contacts: list[dict]) -> list[InboundMessage]:
    """The messages of one Meta batch for Alpha's number, as ingest hands them over."""
    return parse_webhook(envelope(contacts=contacts, messages=messages)).messages


def burst(n_messages: int, n_contacts: int, *, names: str = "Customer") -> list[InboundMessage]:
    people = [unique_wa_id() for _ in range(n_contacts)]
    messages = [text_message(people[i % n_contacts], f"hi {i}", timestamp=BASE + i) for i in range(n_messages)]
    return parsed(messages, [contact(p, f"{names} {p}") for p in people])


def user_id_contact(user_id: str, name: str = "Username user") -> dict[str, Any]:
    return {"profile": {"name": name}, "user_id": user_id}


def from_user_id(user_id: str, body: str, *, timestamp: int, wa_id: str | None = None) -> dict[str, Any]:
    message = {
        "from_user_id": user_id,
        "id": unique_wamid(),
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": body},
    }
    if wa_id:
        message["from"] = wa_id
    return message


def unique_user_id() -> str:
    return f"US.{uuid.uuid4().int % 10**20:020d}"


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


@pytest.fixture
def store(in_alpha, django_capture_on_commit_callbacks):
    """inbound_part_store in Alpha's schema, with its after-commit events run."""

    def run(messages, statuses=()):
        with django_capture_on_commit_callbacks(execute=True):
            return inbound_part_store(messages=messages, statuses=statuses)

    return run


class TestStatementCount:
    def statements(self, messages) -> list[str]:
        Contact.objects.exists()  # django-tenants sets the search path on the first query
        # Inside the test's transaction, as inside ingest's per-part savepoint.
        with CaptureQueriesContext(connection) as queries:
            inbound_part_store(messages=messages)
        return [q["sql"] for q in queries.captured_queries]

    def test_a_part_costs_the_same_statements_for_10_or_100_messages(self, in_alpha):
        small, large = burst(10, 5), burst(100, 50)
        small_statements = self.statements(small)
        large_statements = self.statements(large)
        assert len(large_statements) == len(small_statements)
        # The stored-wamid check, the contacts' upsert in its fallback savepoint, the
        # conversations' upsert, the messages' insert.
        kinds = [sql.split(None, 1)[0] for sql in large_statements]
        assert kinds == ["SELECT", "SAVEPOINT", "INSERT", "RELEASE", "INSERT", "INSERT"]
        people = {m.contact.wa_id for m in small + large}
        assert Message.objects.filter(wamid__in=[m.wamid for m in small + large]).count() == 110
        assert Contact.objects.filter(wa_id__in=people).count() == 55
        assert Conversation.objects.filter(contact__wa_id__in=people).count() == 55

    def test_known_contacts_and_statuses_cost_no_statement_per_message(self, in_alpha):
        first = burst(100, 50)
        self.statements(first)
        again = parsed(
            [text_message(m.contact.wa_id, "again", timestamp=BASE + 500 + i) for i, m in enumerate(first)],
            [contact(m.contact.wa_id) for m in first],
        )
        assert len(self.statements(again)) == 6
        people = {m.contact.wa_id for m in first}
        assert Message.objects.filter(conversation__contact__wa_id__in=people).count() == 200
        assert Contact.objects.filter(wa_id__in=people).count() == 50

    def test_user_id_only_contacts_take_one_statement_of_their_own(self, in_alpha):
        people = [unique_user_id() for _ in range(20)]
        only_user_ids = parsed(
            [from_user_id(people[i % 20], f"hi {i}", timestamp=BASE + i) for i in range(60)],
            [user_id_contact(p) for p in people],
        )
        assert len(self.statements(only_user_ids)) == 6
        mixed = burst(40, 20) + parsed(
            [from_user_id(people[i % 20], f"more {i}", timestamp=BASE + 100 + i) for i in range(40)],
            [user_id_contact(p) for p in people],
        )
        assert len(self.statements(mixed)) == 7
        assert Contact.objects.filter(wa_id__isnull=True, user_id__in=people).count() == 20
        assert Message.objects.filter(conversation__contact__user_id__in=people).count() == 100

    def test_reaction_targets_are_read_in_one_query(self, in_alpha):
        wa_id = unique_wa_id()
        stored = burst(5, 1)
        self.statements(stored)
        reactions = []
        for i, target in enumerate(stored):
            reaction = {
                "from": wa_id,
                "id": unique_wamid(),
                "timestamp": str(BASE + 100 + i),
                "type": "reaction",
                "reaction": {"message_id": target.wamid, "emoji": "\N{THUMBS UP SIGN}"},
            }
            reactions.append(reaction)
        assert len(self.statements(parsed(reactions, [contact(wa_id)]))) == 7
        linked = Message.objects.filter(type=MessageType.REACTION).select_related("reaction_to")
        assert sorted(m.reaction_to.wamid for m in linked) == sorted(m.wamid for m in stored)

    def test_a_part_already_stored_costs_one_statement(self, in_alpha):
        messages = burst(100, 50)
        self.statements(messages)
        assert len(self.statements(messages)) == 1


class TestInsertOnConflict:
    """bizmitra.db.insert_on_conflict, the statement the three upserts share."""

    def test_nothing_to_insert_costs_no_statement(self, in_alpha):
        with CaptureQueriesContext(connection) as queries:
            assert insert_on_conflict(Message, [], conflict=["wamid"]) == []
        assert queries.captured_queries == []

    def test_do_nothing_returns_only_the_rows_it_inserted(self, in_alpha):
        (known,) = inbound_part_store(messages=burst(1, 1))
        conversation_id = known.conversation_id
        rows = [
            Message(
                conversation_id=conversation_id,
                direction=Direction.INBOUND,
                type=MessageType.TEXT,
                wamid=wamid,
                status=MessageStatus.RECEIVED,
                timestamp=at(BASE),
            )
            for wamid in (known.wamid, "wamid.new-one", "wamid.new-two")
        ]
        returned = insert_on_conflict(Message, rows, conflict=["wamid"], returning=["wamid", "pk"])
        assert sorted(wamid for wamid, _ in returned) == ["wamid.new-one", "wamid.new-two"]
        assert Message.objects.get(wamid=known.wamid).pk == known.pk
        new = Message.objects.get(wamid="wamid.new-one")
        assert new.created_at and new.updated_at and new.payload == {}  # pre_save and defaults applied

    def test_insert_many_sets_each_objects_id_in_order_and_raises_on_a_conflict(self, in_alpha):
        (known,) = inbound_part_store(messages=burst(1, 1))

        def row(wamid: str, body: str) -> Message:
            return Message(
                conversation_id=known.conversation_id,
                direction=Direction.INBOUND,
                type=MessageType.TEXT,
                wamid=wamid,
                body=body,
                payload={"text": {"body": body}},
                status=MessageStatus.RECEIVED,
                timestamp=at(BASE),
            )

        rows = [row(f"wamid.many-{n}", f"body {n}") for n in range(5)]
        with CaptureQueriesContext(connection) as queries:
            insert_many(Message, rows)
        assert len(queries.captured_queries) == 1
        for message in rows:
            stored = Message.objects.get(pk=message.pk)
            assert (stored.wamid, stored.body, stored.payload) == (message.wamid, message.body, message.payload)
            assert not message._state.adding
        with pytest.raises(IntegrityError), transaction.atomic():
            insert_many(Message, [row("wamid.many-new", "x"), row(known.wamid, "again")])
        assert not Message.objects.filter(wamid="wamid.many-new").exists()


class TestEvents:
    def test_one_message_received_per_message_and_one_messages_received_per_part(self, store):
        wa_a, wa_b = unique_wa_id(), unique_wa_id()
        # Shuffled in the batch; Meta's timestamps give the order.
        messages = parsed(
            [
                text_message(wa_b, "b2", timestamp=BASE + 3),
                text_message(wa_a, "a1", timestamp=BASE + 1),
                text_message(wa_b, "b1", timestamp=BASE + 2),
            ],
            [contact(wa_a), contact(wa_b)],
        )
        created = store(messages)
        assert [m.body for m in created] == ["a1", "b1", "b2"]
        stored = {m.pk: m for m in Message.objects.select_related("conversation")}
        assert [stored[m.pk].body for m in created] == ["a1", "b1", "b2"]
        received = events.named("message.received")
        assert [e["message_id"] for e in received] == [m.pk for m in created]
        for event in received:
            message = stored[event["message_id"]]
            assert event["conversation_id"] == message.conversation_id
            assert event["contact_id"] == message.conversation.contact_id
            assert event["schema"] == "alpha"
        (batch,) = events.named("messages.received")
        assert batch["message_ids"] == [m.pk for m in created]
        assert batch["conversation_ids"] == [stored[m.pk].conversation_id for m in created]
        assert len(set(batch["conversation_ids"])) == 2

    def test_the_same_part_twice_is_one_row_each_and_publishes_nothing_the_second_time(self, store):
        messages = burst(30, 10)
        assert len(store(messages)) == 30
        assert len(events.named("message.received")) == 30
        assert len(events.named("messages.received")) == 1
        events.clear()
        assert store(messages) == []
        assert events.events == []
        assert Message.objects.filter(wamid__in=[m.wamid for m in messages]).count() == 30
        assert Contact.objects.filter(wa_id__in={m.contact.wa_id for m in messages}).count() == 10

    def test_a_duplicate_inside_the_part_is_one_row_and_one_event(self, store):
        wa_id = unique_wa_id()
        hello = text_message(wa_id, "hello", timestamp=BASE)
        (message,) = store(parsed([hello, hello], [contact(wa_id)]))
        assert [e["message_id"] for e in events.named("message.received")] == [message.pk]
        assert Message.objects.filter(wamid=hello["id"]).count() == 1

    def test_media_messages_schedule_their_download(self, in_alpha, django_capture_on_commit_callbacks):
        wa_id = unique_wa_id()
        messages = parsed(
            [
                image_message(wa_id, "media-1", timestamp=BASE),
                text_message(wa_id, "text", timestamp=BASE + 1),
                image_message(wa_id, "media-2", timestamp=BASE + 2),
            ],
            [contact(wa_id)],
        )
        with django_capture_on_commit_callbacks() as callbacks:
            inbound_part_store(messages=messages)
        # Three message.received, one messages.received and two media downloads.
        assert len(callbacks) == 6
        assert Message.objects.filter(media_id__in=["media-1", "media-2"], media_status="pending").count() == 2


class TestContactsAndConversations:
    def test_stored_rows_keep_every_field(self, store):
        wa_id = unique_wa_id()
        (message,) = store(parsed([text_message(wa_id, "book me in", timestamp=BASE)], [contact(wa_id, "Asha")]))
        row = Message.objects.select_related("conversation__contact").get(pk=message.pk)
        assert (row.direction, row.type, row.body, row.status) == (
            Direction.INBOUND,
            MessageType.TEXT,
            "book me in",
            MessageStatus.RECEIVED,
        )
        assert row.timestamp == at(BASE)
        assert row.created_at and row.updated_at
        assert row.payload["text"]["body"] == "book me in"
        assert row.conversation.status == ConversationStatus.OPEN
        assert row.conversation.phone_number_id == message.conversation.phone_number_id
        assert row.conversation.last_message_at == at(BASE)
        person = row.conversation.contact
        assert (person.wa_id, person.user_id, person.profile_name) == (wa_id, None, "Asha")
        assert person.last_inbound_at == at(BASE)

    @pytest.mark.parametrize(
        "body",
        ["NULL", "null", "", 'He said "hi" \\ {a,b} (c)', "line one\nline two\ttab", "हिंदी 😀 'quoted'", "x" * 5000],
    )
    def test_any_text_survives_the_array_parameters(self, store, body):
        # Values travel as PostgreSQL array literals: quoting, NULL-looking text and
        # non-ASCII text must come back exactly as sent.
        wa_id = unique_wa_id()
        (message,) = store(parsed([text_message(wa_id, body, timestamp=BASE)], [contact(wa_id, body[:50] or "A")]))
        row = Message.objects.get(pk=message.pk)
        assert row.body == body
        assert row.payload["text"]["body"] == body
        assert row.conversation.contact.profile_name == (body[:50] or "A")

    def test_a_closed_conversation_opens_again_and_a_handed_off_one_stays(self, store):
        closed, handed_off = unique_wa_id(), unique_wa_id()
        store(
            parsed(
                [text_message(w, "first", timestamp=BASE) for w in (closed, handed_off)],
                [contact(closed), contact(handed_off)],
            )
        )
        Conversation.objects.filter(contact__wa_id=closed).update(status=ConversationStatus.CLOSED)
        Conversation.objects.filter(contact__wa_id=handed_off).update(status=ConversationStatus.HANDED_OFF)
        store(parsed([text_message(w, "again", timestamp=BASE + 60) for w in (closed, handed_off)], []))
        assert Conversation.objects.get(contact__wa_id=closed).status == ConversationStatus.OPEN
        assert Conversation.objects.get(contact__wa_id=handed_off).status == ConversationStatus.HANDED_OFF
        assert Conversation.objects.get(contact__wa_id=closed).last_message_at == at(BASE + 60)

    def test_out_of_order_parts_never_move_times_back_nor_erase_a_name(self, store):
        wa_id = unique_wa_id()
        store(parsed([text_message(wa_id, "newer", timestamp=BASE + 100)], [contact(wa_id, "Asha")]))
        store(parsed([text_message(wa_id, "older", timestamp=BASE)], [{"wa_id": wa_id, "profile": {"name": ""}}]))
        person = Contact.objects.get(wa_id=wa_id)
        assert person.last_inbound_at == at(BASE + 100)
        assert person.profile_name == "Asha"
        assert person.conversation.last_message_at == at(BASE + 100)
        assert [m.body for m in person.conversation.messages.all()] == ["older", "newer"]
        # A later message with a new name moves both on.
        store(parsed([text_message(wa_id, "latest", timestamp=BASE + 200)], [contact(wa_id, "Asha K")]))
        person.refresh_from_db()
        assert (person.last_inbound_at, person.profile_name) == (at(BASE + 200), "Asha K")

    def test_user_id_only_contacts(self, store):
        user_id = unique_user_id()
        store(parsed([from_user_id(user_id, "one", timestamp=BASE)], [user_id_contact(user_id, "Sheena")]))
        store(parsed([from_user_id(user_id, "two", timestamp=BASE + 5)], [user_id_contact(user_id, "")]))
        person = Contact.objects.get(user_id=user_id)
        assert (person.wa_id, person.profile_name, person.last_inbound_at) == (None, "Sheena", at(BASE + 5))
        assert [m.body for m in person.conversation.messages.all()] == ["one", "two"]

    def test_a_known_phone_learns_its_user_id(self, store):
        wa_id, user_id = unique_wa_id(), unique_user_id()
        store(parsed([text_message(wa_id, "by phone", timestamp=BASE)], [contact(wa_id)]))
        both = {"profile": {"name": "Ravi"}, "wa_id": wa_id, "user_id": user_id}
        store(parsed([from_user_id(user_id, "with both", timestamp=BASE + 1, wa_id=wa_id)], [both]))
        person = Contact.objects.get(wa_id=wa_id)
        assert person.user_id == user_id
        assert person.conversation.messages.count() == 2

    def test_a_user_id_owned_by_another_contact_falls_back_row_by_row(self, store):
        """The bulk upsert hits user_id's unique constraint; the part is stored all the same."""
        wa_id, user_id = unique_wa_id(), unique_user_id()
        store(parsed([from_user_id(user_id, "no phone yet", timestamp=BASE)], [user_id_contact(user_id)]))
        known = Contact.objects.get(user_id=user_id)
        other = unique_wa_id()
        both = {"profile": {"name": "Ravi"}, "wa_id": wa_id, "user_id": user_id}
        created = store(
            parsed(
                [
                    from_user_id(user_id, "now with phone", timestamp=BASE + 1, wa_id=wa_id),
                    text_message(other, "someone else", timestamp=BASE + 2),
                ],
                [both, contact(other)],
            )
        )
        assert len(created) == 2
        known.refresh_from_db()
        assert (known.wa_id, known.user_id, known.profile_name) == (wa_id, user_id, "Ravi")
        assert [m.body for m in known.conversation.messages.all()] == ["no phone yet", "now with phone"]
        assert Contact.objects.get(wa_id=other).conversation.messages.get().body == "someone else"
        assert len(events.named("message.received")) == 3

    def test_one_phone_under_two_user_ids_in_one_part(self, store):
        wa_id, first, second = unique_wa_id(), unique_user_id(), unique_user_id()
        created = store(
            parsed(
                [
                    from_user_id(first, "one", timestamp=BASE, wa_id=wa_id),
                    from_user_id(second, "two", timestamp=BASE + 1, wa_id=wa_id),
                ],
                [{"wa_id": wa_id, "user_id": first, "profile": {"name": "A"}}],
            )
        )
        assert len(created) == 2
        person = Contact.objects.get(wa_id=wa_id)
        assert [m.body for m in person.conversation.messages.all()] == ["one", "two"]

    def test_a_reaction_to_a_message_of_the_same_part(self, store):
        wa_id = unique_wa_id()
        target = text_message(wa_id, "photo of the invoice", timestamp=BASE)
        reaction = {
            "from": wa_id,
            "id": unique_wamid(),
            "timestamp": str(BASE + 1),
            "type": "reaction",
            "reaction": {"message_id": target["id"], "emoji": "\N{THUMBS UP SIGN}"},
        }
        created = store(parsed([reaction, target], [contact(wa_id)]))
        row = Message.objects.get(wamid=reaction["id"])
        assert row.reaction_to.wamid == target["id"]
        assert next(m for m in created if m.wamid == reaction["id"]).reaction_to_id == row.reaction_to_id


def _contact_upserts_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction, pg_stat_activity is a snapshot taken on first read.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"conversations_contact\"%'"
        )
        return cursor.fetchone()[0]


def test_parallel_deliveries_with_overlapping_wamids_and_contacts(live_db, alpha):
    """Four workers store overlapping parts at once: one row per wamid, one event per row.

    The test holds the row lock of a contact every part names, so all four pass the
    stored-wamid pre-check before any of them commits: only the database's ON CONFLICT
    can keep a wamid from being stored or announced twice.
    """
    first = "1000" + str(uuid.uuid4().int)[:8]  # sorts before every other wa_id: locked first
    people = [first] + [unique_wa_id() for _ in range(29)]
    now = int(time.time())
    raw = [text_message(people[i % 30], f"burst {i}", timestamp=now - 500 + i) for i in range(120)]
    contacts = [contact(p, f"Person {p}") for p in people]
    rng = random.Random(9)
    # Each delivery carries 80 of the 120 messages (always one from `first`), shuffled, and
    # its contacts in another order, so every pair overlaps.
    parts = []
    for _ in range(4):
        chosen = [raw[0], *rng.sample(raw[1:], 79)]
        rng.shuffle(chosen)
        parts.append(parsed(chosen, rng.sample(contacts, len(contacts))))
    with schema_context("alpha"):
        Contact.objects.create(wa_id=first, profile_name="Held")
    errors: list[BaseException] = []

    def work(messages):
        try:
            with tenant_context(alpha.tenant), transaction.atomic():
                inbound_part_store(messages=messages)
        except BaseException as exc:  # a deadlock or a unique violation; asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(p,)) for p in parts]
    with schema_context("alpha"), transaction.atomic():
        Contact.objects.select_for_update().get(wa_id=first)
        for thread in threads:
            thread.start()
        wait_for(lambda: _contact_upserts_waiting_for_a_lock() >= len(threads), timeout=60, what="all four to queue")
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors

    wamids = {m.wamid for part in parts for m in part}
    with schema_context("alpha"):
        rows = list(Message.objects.filter(wamid__in=wamids).values_list("wamid", "pk"))
        assert Contact.objects.filter(wa_id__in=people).count() == 30
        assert Conversation.objects.filter(contact__wa_id__in=people).count() == 30
        newest = max(m.timestamp for part in parts for m in part if m.contact.wa_id == first)
        assert Contact.objects.get(wa_id=first).last_inbound_at == at(newest)
    assert len(rows) == len(wamids)
    ids = {pk for _, pk in rows}
    # Only these four deliveries published in this process since the test began.
    received = [e["message_id"] for e in events.named("message.received")]
    assert sorted(received) == sorted(ids)
    batches = events.named("messages.received")
    assert len(batches) <= len(parts)
    assert sorted(pk for e in batches for pk in e["message_ids"]) == sorted(ids)
