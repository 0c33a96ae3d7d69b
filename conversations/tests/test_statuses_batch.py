"""Status webhooks of a relay batch applied together (issue 13 §1): in (timestamp, rank) order
across deliveries, parked when the wamid is unknown, a poisoned delivery isolated, redelivery
idempotent, and a fixed number of statements whatever the batch's size."""

from __future__ import annotations

import itertools
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from conversations.choices import MessageStatus
from conversations.models import Message, PendingStatus
from conversations.services.inbound import inbound_deliveries_process
from conversations.services.statuses import pending_statuses_apply, statuses_apply
from conversations.tests.inbound_support import (
    contact,
    envelope,
    recorder,
    status_item,
    text_message,
    unique_wa_id,
    unique_wamid,
)
from conversations.tests.test_statuses import outbound
from conversations.whatsapp import ingest
from conversations.whatsapp.models import UnroutedEvent, WebhookDelivery
from conversations.whatsapp.parsing import StatusUpdate
from tests.tenancy import ALPHA

T0 = 1749416400
TIMES = {"sent": T0 + 1, "delivered": T0 + 2, "read": T0 + 3}
SCHEMA = ALPHA["schema_name"]


@pytest.fixture(autouse=True)
def _clear_events():
    recorder.clear()
    yield
    recorder.clear()


def stored(payload: dict) -> int:
    return ingest.delivery_store(body=json.dumps(payload).encode())


def status_delivery(wamid: str, status: str, **extra) -> int:
    """One webhook carrying one status, as Meta sends them."""
    return stored(envelope(statuses=[status_item(wamid, status, timestamp=TIMES[status], **extra)]))


def process(delivery_ids: list[int], capture_on_commit) -> int:
    with capture_on_commit(execute=True):
        return inbound_deliveries_process(delivery_ids=delivery_ids)


def status_events() -> list[tuple[int, str]]:
    return [(e["message_id"], e["status"]) for e in recorder.named("message.status")]


def update(wamid: str, status: str, **extra) -> StatusUpdate:
    return StatusUpdate(
        phone_number_id=ALPHA["phone_number_id"], wamid=wamid, status=status, timestamp=TIMES[status], **extra
    )


class TestOrderAcrossDeliveries:
    @pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])))
    def test_any_arrival_order_in_one_batch_ends_read_with_every_time(
        self, db, tenants_setup, django_capture_on_commit_callbacks, order
    ):
        with schema_context(SCHEMA):
            message = outbound(wamid=unique_wamid())
        ids = [status_delivery(message.wamid, status) for status in order]
        assert process(ids, django_capture_on_commit_callbacks) == 3
        with schema_context(SCHEMA):
            message.refresh_from_db()
        assert message.status == MessageStatus.READ
        times = (message.sent_at, message.delivered_at, message.read_at)
        assert [int(t.timestamp()) for t in times] == [TIMES["sent"], TIMES["delivered"], TIMES["read"]]
        # Applied in Meta's order whatever the arrival order: each step once, never backwards.
        assert status_events() == [(message.pk, "sent"), (message.pk, "delivered"), (message.pk, "read")]
        assert set(WebhookDelivery.objects.filter(pk__in=ids).values_list("state", flat=True)) == {"processed"}

    def test_a_message_already_read_is_not_moved_back_by_a_batch_of_older_statuses(
        self, db, tenants_setup, django_capture_on_commit_callbacks
    ):
        with schema_context(SCHEMA):
            message = outbound(wamid=unique_wamid(), status=MessageStatus.READ)
        process(
            [status_delivery(message.wamid, "delivered"), status_delivery(message.wamid, "sent")],
            django_capture_on_commit_callbacks,
        )
        with schema_context(SCHEMA):
            message.refresh_from_db()
        assert message.status == MessageStatus.READ
        assert message.sent_at is not None and message.delivered_at is not None  # the times are still news
        assert status_events() == []

    def test_statuses_of_many_messages_in_one_batch(self, db, tenants_setup, django_capture_on_commit_callbacks):
        with schema_context(SCHEMA):
            messages = [outbound(wamid=unique_wamid()) for _ in range(4)]
        ids = [status_delivery(m.wamid, s) for s in ("read", "delivered", "sent") for m in messages[:3]]
        ids.append(status_delivery(messages[3].wamid, "delivered"))
        process(ids, django_capture_on_commit_callbacks)
        with schema_context(SCHEMA):
            statuses = [Message.objects.get(pk=m.pk).status for m in messages]
        assert statuses == ["read", "read", "read", "delivered"]


class TestUnknownWamids:
    def test_parked_then_applied_when_the_send_records_the_wamid(
        self, db, tenants_setup, django_capture_on_commit_callbacks
    ):
        wamid = unique_wamid()
        process(
            [status_delivery(wamid, "read"), status_delivery(wamid, "delivered"), status_delivery(wamid, "read")],
            django_capture_on_commit_callbacks,
        )
        with schema_context(SCHEMA):
            assert sorted(PendingStatus.objects.filter(wamid=wamid).values_list("status", flat=True)) == [
                "delivered",
                "read",
            ]
            message = outbound(wamid=wamid, status=MessageStatus.SENT)  # the send queue records Meta's answer
            pending_statuses_apply(message=message)
            message.refresh_from_db()
            assert message.status == MessageStatus.READ
            assert not PendingStatus.objects.filter(wamid=wamid).exists()

    def test_callback_data_in_the_batch_adopts_the_wamid_and_what_was_parked(
        self, db, tenants_setup, django_capture_on_commit_callbacks
    ):
        with schema_context(SCHEMA):
            message = outbound(wamid=None)
        wamid = unique_wamid()
        process([status_delivery(wamid, "delivered")], django_capture_on_commit_callbacks)  # parked first
        process(
            [
                status_delivery(wamid, "read"),
                status_delivery(wamid, "sent", biz_opaque_callback_data=f"bzm:{message.pk}"),
            ],
            django_capture_on_commit_callbacks,
        )
        with schema_context(SCHEMA):
            message.refresh_from_db()
            assert (message.wamid, message.status) == (wamid, MessageStatus.READ)
            assert message.delivered_at is not None
            assert not PendingStatus.objects.filter(wamid=wamid).exists()

    def test_a_failed_status_with_a_long_title_is_parked_not_refused(
        self, db, tenants_setup, django_capture_on_commit_callbacks
    ):
        wamid = unique_wamid()
        error = {"code": 131026, "title": "t" * 400}
        delivery_id = stored(envelope(statuses=[status_item(wamid, "failed", timestamp=T0, errors=[error])]))
        process([delivery_id], django_capture_on_commit_callbacks)
        with schema_context(SCHEMA):
            assert len(PendingStatus.objects.get(wamid=wamid).error_title) == 255
        assert not UnroutedEvent.objects.filter(delivery_id=delivery_id).exists()


POISON_TRIGGER = f"""
CREATE FUNCTION "{SCHEMA}".refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.body = 'poison' THEN
        RAISE EXCEPTION 'this row is refused' USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_poison BEFORE INSERT ON "{SCHEMA}".conversations_message
    FOR EACH ROW EXECUTE FUNCTION "{SCHEMA}".refuse_poison();
"""


def test_a_poisoned_delivery_in_a_batch_does_not_block_the_others(
    db, tenants_setup, django_capture_on_commit_callbacks
):
    """A message the database refuses (here a trigger, undone with the test's transaction)
    costs only itself: the batch's combined store fails, each delivery is stored on its own."""
    with connection.cursor() as cursor:
        cursor.execute(POISON_TRIGGER)
    with schema_context(SCHEMA):
        sent = outbound(wamid=unique_wamid(), status=MessageStatus.SENT)
    wa_id = unique_wa_id()
    before = text_message(wa_id, "hello", timestamp=T0)
    poison = text_message(wa_id, "poison", timestamp=T0 + 1)
    beside = text_message(wa_id, "beside the poison", timestamp=T0 + 2)
    after = text_message(wa_id, "after", timestamp=T0 + 3)
    ids = [
        status_delivery(sent.wamid, "read"),
        stored(envelope(contacts=[contact(wa_id)], messages=[before])),
        stored(envelope(contacts=[contact(wa_id)], messages=[poison, beside])),
        stored(envelope(contacts=[contact(wa_id)], messages=[after])),
    ]
    assert process(ids, django_capture_on_commit_callbacks) == 4
    deliveries = {d.pk: d for d in WebhookDelivery.objects.filter(pk__in=ids)}
    assert {d.state for d in deliveries.values()} == {"processed"}, [d.error for d in deliveries.values()]
    with schema_context(SCHEMA):
        bodies = set(
            Message.objects.filter(wamid__in=[m["id"] for m in (before, poison, beside, after)]).values_list(
                "body", flat=True
            )
        )
        assert bodies == {"hello", "beside the poison", "after"}
        assert Message.objects.get(pk=sent.pk).status == MessageStatus.READ
    rejected = UnroutedEvent.objects.get(kind=UnroutedEvent.Kind.REJECTED, delivery_id__in=ids)
    assert rejected.delivery_id == ids[2] and "this row is refused" in rejected.reason


def test_a_redelivered_batch_changes_nothing(db, tenants_setup, django_capture_on_commit_callbacks):
    with schema_context(SCHEMA):
        message = outbound(wamid=unique_wamid())
    unknown = unique_wamid()
    ids = [
        status_delivery(message.wamid, "delivered"),
        status_delivery(message.wamid, "read"),
        status_delivery(message.wamid, "read"),  # Meta repeats itself inside one batch too
        status_delivery(unknown, "sent"),
    ]
    process(ids, django_capture_on_commit_callbacks)
    with schema_context(SCHEMA):
        first = Message.objects.values("status", "sent_at", "delivered_at", "read_at", "updated_at").get(pk=message.pk)
    events = status_events()
    assert events == [(message.pk, "delivered"), (message.pk, "read")]

    # The deliveries come again (Meta retried, the sweeper re-enqueued): all claimed, nothing moves.
    ingest.deliveries_reset(delivery_ids=ids)
    assert process(ids, django_capture_on_commit_callbacks) == 4
    assert process(ids, django_capture_on_commit_callbacks) == 0  # processed: nothing to claim
    with schema_context(SCHEMA):
        assert (
            Message.objects.values("status", "sent_at", "delivered_at", "read_at", "updated_at").get(pk=message.pk)
            == first
        )
        assert PendingStatus.objects.filter(wamid=unknown).count() == 1
    assert status_events() == events


class TestStatementCount:
    """Counts are deterministic, so they are pinned; the times go in the chaos bench."""

    def statements(self, updates: list[StatusUpdate]) -> list[str]:
        Message.objects.exists()  # django-tenants sets the search path on the first query
        with CaptureQueriesContext(connection) as queries:
            statuses_apply(updates=updates)
        return [q["sql"] for q in queries.captured_queries]

    def test_known_wamids_cost_three_statements_for_3_or_30_statuses(self, in_alpha):
        small = [outbound(wamid=unique_wamid()) for _ in range(1)]
        large = [outbound(wamid=unique_wamid()) for _ in range(10)]
        for messages in (small, large):
            updates = [update(m.wamid, s) for m in messages for s in ("read", "sent", "delivered")]
            # the wamids' locks in one pass, their messages read, every message moved in one UPDATE
            assert len(self.statements(updates)) == 3
            assert {m.status for m in Message.objects.filter(pk__in=[m.pk for m in messages])} == {"read"}

    def test_unknown_wamids_cost_three_statements(self, in_alpha):
        for n in (1, 20):
            updates = [update(unique_wamid(), s) for _ in range(n) for s in ("sent", "read")]
            # locks, the read that finds nothing, one insert of everything parked
            assert len(self.statements(updates)) == 3
            assert PendingStatus.objects.filter(wamid__in=[u.wamid for u in updates]).count() == 2 * n

    def test_adopted_wamids_cost_five_statements(self, in_alpha):
        for n in (1, 10):
            messages = [outbound(wamid=None) for _ in range(n)]
            wamids = [unique_wamid() for _ in messages]
            statuses_apply(updates=[update(w, "delivered") for w in wamids])  # parked
            updates = [
                update(w, "sent", biz_opaque_callback_data=f"bzm:{m.pk}") for w, m in zip(wamids, messages, strict=True)
            ]
            # locks, read, adoption, what was parked taken (DELETE … RETURNING), one UPDATE
            assert len(self.statements(updates)) == 5
            assert {m.status for m in Message.objects.filter(pk__in=[m.pk for m in messages])} == {"delivered"}

    def test_a_batch_of_deliveries_costs_the_same_statements_for_5_or_25(self, db, tenants_setup):
        with schema_context(SCHEMA):
            messages = [outbound(wamid=unique_wamid()) for _ in range(25)]
        counts = []
        for some in (messages[:5], messages[5:]):
            ids = [status_delivery(m.wamid, "delivered") for m in some]
            with CaptureQueriesContext(connection) as queries:
                assert inbound_deliveries_process(delivery_ids=ids) == len(ids)
            counts.append(len(queries.captured_queries))
        assert counts[0] == counts[1]
        with schema_context(SCHEMA):
            assert {m.status for m in Message.objects.filter(pk__in=[m.pk for m in messages])} == {"delivered"}


def test_a_relay_task_takes_other_pending_deliveries_along(db, tenants_setup, django_capture_on_commit_callbacks):
    """``take_pending``: the first worker free stores the backlog together; the tasks that
    announced it find nothing to do. Failed deliveries wait for their backoff (the sweeper's)."""
    with schema_context(SCHEMA):
        message = outbound(wamid=unique_wamid())
    WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING).update(state=WebhookDelivery.State.PROCESSED)
    failed = status_delivery(message.wamid, "read")
    WebhookDelivery.objects.filter(pk=failed).update(state=WebhookDelivery.State.FAILED)
    announced = status_delivery(message.wamid, "sent")
    backlog = [status_delivery(message.wamid, "delivered") for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_deliveries_process(delivery_ids=[announced], take_pending=2) == 3
        assert inbound_deliveries_process(delivery_ids=[backlog[0]], take_pending=24) == 1
        assert inbound_deliveries_process(delivery_ids=backlog, take_pending=24) == 0
    states = dict(WebhookDelivery.objects.filter(pk__in=[failed, announced, *backlog]).values_list("pk", "state"))
    assert states == {failed: "failed", announced: "processed", **dict.fromkeys(backlog, "processed")}
    with schema_context(SCHEMA):
        assert Message.objects.get(pk=message.pk).status == MessageStatus.DELIVERED


def test_a_task_whose_own_deliveries_are_done_still_takes_a_batch_of_pending_ones(
    db, tenants_setup, django_capture_on_commit_callbacks
):
    """A relay task of a full batch, all stored meanwhile by other tasks' take-along, stores up
    to a batch of the deliveries still pending, so the last webhooks of a burst do not wait
    behind thousands of such tasks."""
    from conversations.whatsapp.tasks import BATCH_SIZE, webhook_process_batch_task

    with schema_context(SCHEMA):
        message = outbound(wamid=unique_wamid())
    WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING).update(state=WebhookDelivery.State.PROCESSED)
    done = [status_delivery(message.wamid, "sent") for _ in range(BATCH_SIZE)]
    WebhookDelivery.objects.filter(pk__in=done).update(state=WebhookDelivery.State.PROCESSED)
    last = [status_delivery(message.wamid, "delivered") for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        webhook_process_batch_task(done)
    assert set(WebhookDelivery.objects.filter(pk__in=last).values_list("state", flat=True)) == {"processed"}
