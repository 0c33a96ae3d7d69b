"""Delivery statuses: never backwards whatever the order, pending until the wamid exists, reconcile."""

import itertools
import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import connections
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.choices import Direction, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message, PendingStatus
from conversations.services.statuses import pending_statuses_apply, status_apply
from conversations.tests.inbound_support import envelope, recorder, status_item, unique_wa_id, unique_wamid
from conversations.whatsapp import ingest
from conversations.whatsapp.parsing import StatusUpdate
from tests.tenancy import ALPHA

T0 = 1749416400
TIMES = {"sent": T0 + 1, "delivered": T0 + 2, "read": T0 + 3, "played": T0 + 4, "failed": T0 + 5}


@pytest.fixture(autouse=True)
def _clear_events():
    recorder.clear()
    yield
    recorder.clear()


def outbound(*, wamid: str | None = None, status: str = MessageStatus.SENDING) -> Message:
    """An outbound message as the send queue leaves it (call inside a tenant schema)."""
    person = Contact.objects.create(wa_id=unique_wa_id())
    conversation = Conversation.objects.create(contact=person, phone_number_id=ALPHA["phone_number_id"])
    return Message.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        type=MessageType.TEXT,
        body="Your appointment is confirmed",
        wamid=wamid,
        status=status,
        timestamp=timezone.now(),
    )


def update(wamid: str, status: str, **extra) -> StatusUpdate:
    return StatusUpdate(
        phone_number_id=ALPHA["phone_number_id"], wamid=wamid, status=status, timestamp=TIMES[status], **extra
    )


def failed(wamid: str, **extra) -> StatusUpdate:
    return update(
        wamid,
        "failed",
        error_code=131047,
        error_title="Re-engagement message",
        error_details="Message failed to send because more than 24 hours have passed",
        **extra,
    )


def at(status: str) -> datetime:
    return datetime.fromtimestamp(TIMES[status], tz=UTC)


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])))
def test_any_order_of_sent_delivered_read_ends_read(in_alpha, order):
    message = outbound(wamid=unique_wamid())
    for status in order:
        status_apply(update=update(message.wamid, status))
    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert (message.sent_at, message.delivered_at, message.read_at) == (at("sent"), at("delivered"), at("read"))
    assert message.failed_at is None


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "failed"])))
def test_failed_wins_over_sent_in_any_order(in_alpha, order):
    message = outbound(wamid=unique_wamid())
    for status in order:
        status_apply(update=failed(message.wamid) if status == "failed" else update(message.wamid, status))
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.failed_at == at("failed")
    assert (message.error_code, message.error_title) == (131047, "Re-engagement message")
    assert "24 hours" in message.error_details


@pytest.mark.parametrize("order", list(itertools.permutations(["delivered", "read", "failed"])))
def test_a_late_failed_never_undoes_a_delivery(in_alpha, order):
    message = outbound(wamid=unique_wamid())
    for status in order:
        status_apply(update=failed(message.wamid) if status == "failed" else update(message.wamid, status))
    message.refresh_from_db()
    if order[0] == "failed":  # failed first is terminal: a delivery reported after it is stale
        assert message.status == MessageStatus.FAILED
    else:
        assert message.status == MessageStatus.READ
        assert message.error_code is None


def test_played_follows_read(in_alpha):
    message = outbound(wamid=unique_wamid())
    for status in ("played", "read", "delivered", "sent"):
        status_apply(update=update(message.wamid, status))
    message.refresh_from_db()
    assert message.status == MessageStatus.PLAYED


def test_unknown_status_changes_nothing(in_alpha):
    message = outbound(wamid=unique_wamid(), status=MessageStatus.SENT)
    status_apply(update=StatusUpdate(phone_number_id="", wamid=message.wamid, status="deleted", timestamp=T0))
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert not PendingStatus.objects.filter(wamid=message.wamid).exists()


def test_status_events_only_when_the_status_moves(in_alpha, django_capture_on_commit_callbacks):
    message = outbound(wamid=unique_wamid())
    with django_capture_on_commit_callbacks(execute=True):
        for status in ("delivered", "delivered", "sent", "read"):
            status_apply(update=update(message.wamid, status))
    assert [(e["message_id"], e["status"]) for e in recorder.named("message.status")] == [
        (message.pk, "delivered"),
        (message.pk, "read"),
    ]


class TestPendingStatuses:
    def test_status_before_the_wamid_waits_then_applies(self, in_alpha):
        wamid = unique_wamid()
        status_apply(update=update(wamid, "delivered"))
        status_apply(update=update(wamid, "sent"))
        status_apply(update=update(wamid, "sent"))  # Meta repeats itself
        assert sorted(PendingStatus.objects.filter(wamid=wamid).values_list("status", flat=True)) == [
            "delivered",
            "sent",
        ]
        # The send queue records the wamid Meta answered, then hands over.
        message = outbound(wamid=wamid, status=MessageStatus.SENT)
        pending_statuses_apply(message=message)
        message.refresh_from_db()
        assert message.status == MessageStatus.DELIVERED
        assert message.delivered_at == at("delivered")
        assert not PendingStatus.objects.filter(wamid=wamid).exists()

    def test_pending_failed_keeps_its_error(self, in_alpha):
        wamid = unique_wamid()
        status_apply(update=failed(wamid))
        message = outbound(wamid=wamid)
        pending_statuses_apply(message=message)
        message.refresh_from_db()
        assert message.status == MessageStatus.FAILED
        assert message.error_code == 131047

    def test_through_a_webhook_delivery(self, db, alpha, django_capture_on_commit_callbacks):
        wamid = unique_wamid()
        payload = envelope(statuses=[status_item(wamid, "read", timestamp=TIMES["read"])])
        delivery_id = ingest.delivery_store(body=json.dumps(payload).encode())
        ingest.delivery_process(delivery_id=delivery_id)
        with schema_context("alpha"):
            assert PendingStatus.objects.get(wamid=wamid).status == "read"
            message = outbound(wamid=wamid, status=MessageStatus.SENT)
            pending_statuses_apply(message=message)
            message.refresh_from_db()
            assert message.status == MessageStatus.READ


class TestReconcile:
    def test_callback_data_adopts_the_wamid_of_a_send_stuck_in_sending(self, in_alpha):
        message = outbound(wamid=None, status=MessageStatus.SENDING)
        wamid = unique_wamid()
        status_apply(update=update(wamid, "sent", biz_opaque_callback_data=f"bzm:{message.pk}"))
        message.refresh_from_db()
        assert message.wamid == wamid
        assert message.status == MessageStatus.SENT
        assert message.sent_at == at("sent")
        assert not PendingStatus.objects.filter(wamid=wamid).exists()

    def test_earlier_statuses_without_callback_data_follow(self, in_alpha):
        message = outbound(wamid=None, status=MessageStatus.SENDING)
        wamid = unique_wamid()
        status_apply(update=update(wamid, "read"))
        status_apply(update=update(wamid, "sent", biz_opaque_callback_data=f"bzm:{message.pk}"))
        message.refresh_from_db()
        assert (message.wamid, message.status) == (wamid, MessageStatus.READ)

    @pytest.mark.parametrize("data", ["bzm:not-a-number", "other:1", ""])
    def test_unusable_callback_data_waits_as_pending(self, in_alpha, data):
        wamid = unique_wamid()
        status_apply(update=update(wamid, "sent", biz_opaque_callback_data=data))
        assert PendingStatus.objects.filter(wamid=wamid).exists()

    def test_a_message_that_has_a_wamid_is_never_rewritten(self, in_alpha):
        message = outbound(wamid=unique_wamid(), status=MessageStatus.SENT)
        other = unique_wamid()
        status_apply(update=update(other, "delivered", biz_opaque_callback_data=f"bzm:{message.pk}"))
        message.refresh_from_db()
        assert message.wamid != other
        assert PendingStatus.objects.filter(wamid=other).exists()

    def test_an_inbound_message_is_never_adopted(self, in_alpha):
        message = outbound(wamid=None)
        Message.objects.filter(pk=message.pk).update(direction=Direction.INBOUND)
        status_apply(update=update(unique_wamid(), "sent", biz_opaque_callback_data=f"bzm:{message.pk}"))
        message.refresh_from_db()
        assert message.wamid is None


def test_statuses_racing_in_parallel_end_at_read(live_db):
    """Workers applying statuses of one message at the same time cannot move it backwards."""
    with schema_context("alpha"):
        message = outbound(wamid=unique_wamid())
    order = ["read", "sent", "delivered", "sent", "read", "delivered"]
    barrier = threading.Barrier(len(order))
    errors = []

    def work(status):
        try:
            barrier.wait()
            with schema_context("alpha"):
                status_apply(update=update(message.wamid, status))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(s,)) for s in order]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    with schema_context("alpha"):
        message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert message.delivered_at == at("delivered") and message.sent_at == at("sent")
