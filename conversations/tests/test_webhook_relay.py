"""The relay that turns stored-webhook NOTIFYs into Celery tasks (conversations/whatsapp/relay.py)."""

import random
import threading

import pytest
from django_tenants.utils import schema_context

from conversations.models import Message
from conversations.tests.inbound_support import contact, envelope, post_webhook, text_message, unique_wa_id
from conversations.whatsapp.models import WebhookDelivery
from conversations.whatsapp.relay import WebhookRelay, wait_until_leader
from tests.support import wait_for


def _start(relay: WebhookRelay) -> threading.Thread:
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    return thread


def _message_stored(wamid: str):
    def check():
        with schema_context("alpha"):
            return Message.objects.filter(wamid=wamid).first()

    return check


def test_only_one_relay_leads_and_another_takes_over(live_db):
    key = random.randint(1, 2**30)  # this test's own election, apart from the worker's relay
    first, second = WebhookRelay(lock_key=key), WebhookRelay(lock_key=key)
    threads = [_start(first)]
    try:
        assert wait_until_leader(first)
        threads.append(_start(second))
        assert not wait_until_leader(second, timeout=1.0)
        first.stop()
        threads[0].join(timeout=5)
        assert wait_until_leader(second, timeout=10)  # standby retries every few seconds
    finally:
        first.stop()
        second.stop()
        for thread in threads:
            thread.join(timeout=5)


@pytest.mark.worker
def test_a_posted_webhook_reaches_the_worker_through_the_relay(live_db, celery_worker):
    # No beat runs in tests, so the sweeper cannot be what processes it.
    wa_id = unique_wa_id()
    message = text_message(wa_id, "hello via the relay")
    assert post_webhook(envelope(contacts=[contact(wa_id)], messages=[message])).status_code == 200
    stored = wait_for(_message_stored(message["id"]), timeout=20, what="the relayed delivery to be processed")
    assert stored.body == "hello via the relay"


@pytest.mark.worker
def test_a_new_leader_catches_up_on_deliveries_nobody_announced(live_db, celery_worker):
    import json

    from django.utils import timezone

    wa_id = unique_wa_id()
    message = text_message(wa_id, "stored while no relay listened")
    body = json.dumps(envelope(contacts=[contact(wa_id)], messages=[message])).encode()
    # An ORM insert sends no NOTIFY: as if the relay had been down when Meta posted.
    WebhookDelivery.objects.create(body=body, received_at=timezone.now(), signature_verified=True)
    relay = WebhookRelay(lock_key=random.randint(1, 2**30))
    thread = _start(relay)
    try:
        stored = wait_for(_message_stored(message["id"]), timeout=20, what="the catch-up to process it")
        assert stored.body == "stored while no relay listened"
    finally:
        relay.stop()
        thread.join(timeout=5)
