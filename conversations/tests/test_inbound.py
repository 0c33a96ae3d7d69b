"""Processing stored webhooks: every message type, exactly-once, routing, bursts, the sweeper."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_tenants.utils import schema_context

from conversations.choices import Direction, MediaStatus, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message, PendingStatus
from conversations.tests.inbound_support import (
    contact,
    envelope,
    image_message,
    post_webhook,
    recorder,
    text_message,
    unique_wa_id,
    unique_wamid,
)
from conversations.tests.whatsapp_unit.fixtures import fixture_bytes, load_fixture
from conversations.whatsapp import ingest
from conversations.whatsapp.models import UnroutedEvent, WebhookDelivery
from conversations.whatsapp.tasks import webhook_sweep_task
from tenants.models import PhoneNumber, Tenant
from tests.support import scratch_queue, wait_for
from tests.tenancy import ALPHA

FIXTURE_WA_ID = "16505551234"


@pytest.fixture(autouse=True)
def _clear_events():
    recorder.clear()
    yield
    recorder.clear()


@pytest.fixture
def process(db, tenants_setup, django_capture_on_commit_callbacks):
    """Store bodies as the webhook view does and process them in this process; events fire."""

    def run(*payloads):
        ids = []
        with django_capture_on_commit_callbacks(execute=True):
            for payload in payloads:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                delivery_id = ingest.delivery_store(body=body)
                assert ingest.delivery_process(delivery_id=delivery_id)
                ids.append(delivery_id)
        return [WebhookDelivery.objects.get(pk=pk) for pk in ids]

    return run


def alpha_messages():
    with schema_context("alpha"):
        return list(Message.objects.select_related("conversation__contact", "reaction_to").order_by("timestamp", "id"))


class TestMessageTypes:
    @pytest.mark.parametrize(
        ("fixture", "type", "body"),
        [
            ("message__text", MessageType.TEXT, None),
            ("message__location", MessageType.LOCATION, None),
            ("message__contacts", MessageType.CONTACTS, None),
            ("message__order", MessageType.ORDER, None),
            ("message__unsupported", MessageType.UNSUPPORTED, ""),
            ("message__unknown_legacy", MessageType.UNSUPPORTED, ""),
            ("message__system_user_changed_number", MessageType.SYSTEM, None),
        ],
    )
    def test_stored_with_type_body_and_raw_payload(self, process, fixture, type, body):
        payload = load_fixture(fixture)
        raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        (delivery,) = process(payload)
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        (message,) = alpha_messages()
        assert message.type == type
        assert message.direction == Direction.INBOUND
        assert message.status == MessageStatus.RECEIVED
        assert message.wamid == raw["id"]
        assert message.payload == raw
        assert message.timestamp == datetime.fromtimestamp(int(raw["timestamp"]), tz=UTC)
        if body is not None:
            assert message.body == body
        else:
            assert message.body  # a readable summary: text, address, names, order text, system body

    def test_text(self, process):
        process(load_fixture("message__text"))
        (message,) = alpha_messages()
        raw = load_fixture("message__text")["entry"][0]["changes"][0]["value"]["messages"][0]
        assert message.body == raw["text"]["body"]

    def test_unsupported_keeps_metas_error(self, process):
        process(load_fixture("message__unsupported"))
        (message,) = alpha_messages()
        assert message.error_code == 131051

    @pytest.mark.parametrize(
        ("fixture", "type"),
        [
            ("message__image", MessageType.IMAGE),
            ("message__audio_voice", MessageType.AUDIO),
            ("message__video", MessageType.VIDEO),
            ("message__document", MessageType.DOCUMENT),
            ("message__sticker", MessageType.STICKER),
        ],
    )
    def test_media_is_stored_pending_download(self, process, fixture, type):
        payload = load_fixture(fixture)
        media = payload["entry"][0]["changes"][0]["value"]["messages"][0][type]
        process(payload)
        (message,) = alpha_messages()
        assert message.type == type
        assert message.media_id == media["id"]
        assert message.media_mime_type == media["mime_type"]
        assert message.media_sha256 == media.get("sha256", "")
        assert message.body == media.get("caption", "")
        assert message.media_filename == media.get("filename", "")
        assert message.media_status == MediaStatus.PENDING
        assert not message.media_file

    def test_document_keeps_caption_and_filename(self, process):
        process(load_fixture("message__document"))
        (message,) = alpha_messages()
        media = load_fixture("message__document")["entry"][0]["changes"][0]["value"]["messages"][0]["document"]
        assert message.media_filename == media["filename"]
        assert message.body == media.get("caption", "")

    @pytest.mark.parametrize(
        ("fixture", "type", "key"),
        [
            ("message__button_reply", MessageType.BUTTON_REPLY, "button_reply"),
            ("message__list_reply", MessageType.LIST_REPLY, "list_reply"),
        ],
    )
    def test_button_and_list_replies_keep_id_and_title(self, process, fixture, type, key):
        payload = load_fixture(fixture)
        raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        reply = raw["interactive"][key]
        process(payload)
        (message,) = alpha_messages()
        assert message.type == type
        assert (message.payload_id, message.payload_title) == (reply["id"], reply["title"])
        assert message.body == reply["title"]
        assert message.context_wamid == raw["context"]["id"]

    def test_template_quick_reply_keeps_payload_and_text(self, process):
        payload = load_fixture("message__template_button")
        button = payload["entry"][0]["changes"][0]["value"]["messages"][0]["button"]
        process(payload)
        (message,) = alpha_messages()
        assert message.type == MessageType.BUTTON
        assert (message.payload_id, message.payload_title) == (button["payload"], button["text"])

    def test_reaction_is_attached_to_the_message_it_reacts_to(self, process):
        payload = load_fixture("message__reaction")
        reacted_wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"]
        reacted = text_message(FIXTURE_WA_ID, "our earlier message", wamid=reacted_wamid, timestamp=1749416000)
        process(envelope(contacts=[contact(FIXTURE_WA_ID)], messages=[reacted]), payload)
        messages = alpha_messages()
        reaction = next(m for m in messages if m.type == MessageType.REACTION)
        assert reaction.reaction_to.wamid == reacted_wamid
        assert reaction.body == "\N{THUMBS UP SIGN}"

    def test_reaction_to_an_unknown_message_keeps_its_wamid(self, process):
        payload = load_fixture("message__reaction")
        reacted_wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"]
        process(payload)
        (reaction,) = alpha_messages()
        assert reaction.reaction_to is None
        assert reaction.payload["reaction"]["message_id"] == reacted_wamid

    def test_bsuid_only_contact(self, process):
        payload = load_fixture("message__bsuid_no_wa_id")
        process(payload)
        (message,) = alpha_messages()
        assert message.conversation.contact.wa_id is None
        assert message.conversation.contact.user_id


class TestContactsAndConversations:
    def test_contact_conversation_and_times(self, process):
        wa_id = unique_wa_id()
        first = text_message(wa_id, "first", timestamp=1749416400)
        later = text_message(wa_id, "later", timestamp=1749416500)
        process(envelope(contacts=[contact(wa_id, "Asha")], messages=[later, first]))
        with schema_context("alpha"):
            person = Contact.objects.get(wa_id=wa_id)
            assert person.profile_name == "Asha"
            assert person.last_inbound_at == datetime.fromtimestamp(1749416500, tz=UTC)
            conversation = Conversation.objects.get(contact=person)
            assert conversation.phone_number_id == ALPHA["phone_number_id"]
            assert conversation.last_message_at == datetime.fromtimestamp(1749416500, tz=UTC)
            assert [m.body for m in conversation.messages.all()] == ["first", "later"]

    def test_an_older_message_arriving_late_never_moves_times_back(self, process):
        wa_id = unique_wa_id()
        process(envelope(contacts=[contact(wa_id, "New name")], messages=[text_message(wa_id, "b", timestamp=2000)]))
        process(envelope(contacts=[contact(wa_id, "New name")], messages=[text_message(wa_id, "a", timestamp=1000)]))
        with schema_context("alpha"):
            person = Contact.objects.get(wa_id=wa_id)
            assert person.last_inbound_at == datetime.fromtimestamp(2000, tz=UTC)
            assert person.conversation.last_message_at == datetime.fromtimestamp(2000, tz=UTC)
            assert [m.body for m in person.conversation.messages.all()] == ["a", "b"]

    def test_batch_with_two_contacts_and_two_numbers(self, process):
        (delivery,) = process(load_fixture("batch__two_entries_two_numbers"))
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        with schema_context("alpha"):
            assert Contact.objects.count() == 2
            assert Conversation.objects.count() == 2
            assert Message.objects.count() == 3
        with schema_context("beta"):
            assert Message.objects.count() == 1
            # Statuses for wamids beta has not stored yet wait for the send to record them.
            assert PendingStatus.objects.exists()
        assert UnroutedEvent.objects.get(delivery=delivery).field == "message_template_status_update"


def test_a_full_batch_of_1000_messages_is_stored_completely(db, tenants_setup, django_capture_on_commit_callbacks):
    """Meta's largest batch (1,000 updates, several people): nothing past index 0 is dropped."""
    people = [unique_wa_id() for _ in range(10)]
    messages = [text_message(people[i % 10], f"message {i}", timestamp=1749416400 + i) for i in range(1000)]
    body = json.dumps(envelope(contacts=[contact(p) for p in people], messages=messages)).encode()
    # One per message.received and one messages.received for the part; not run here.
    with django_capture_on_commit_callbacks() as callbacks:
        delivery_id = ingest.delivery_store(body=body)
        assert ingest.delivery_process(delivery_id=delivery_id)
    assert WebhookDelivery.objects.get(pk=delivery_id).state == WebhookDelivery.State.PROCESSED
    with schema_context("alpha"):
        assert Message.objects.count() == 1000
        assert Conversation.objects.count() == 10
    assert len(callbacks) == 1001


class TestExactlyOnce:
    def test_duplicate_inside_one_batch_is_one_message_and_one_event(self, process):
        wa_id = unique_wa_id()
        message = text_message(wa_id, "hello")
        process(envelope(contacts=[contact(wa_id)], messages=[message, message]))
        assert len(alpha_messages()) == 1
        assert len(recorder.named("message.received")) == 1

    def test_redelivery_seconds_or_hours_later_is_one_message_and_one_event(self, process):
        wa_id = unique_wa_id()
        message = text_message(wa_id, "hello")
        other = text_message(wa_id, "second")
        body = json.dumps(envelope(contacts=[contact(wa_id)], messages=[message])).encode()
        process(body, body)
        # Later, inside a different batch.
        process(envelope(contacts=[contact(wa_id)], messages=[other, message]))
        assert [m.body for m in alpha_messages()] == ["hello", "second"]
        received = recorder.named("message.received")
        assert len(received) == 2
        (stored,) = [m for m in alpha_messages() if m.body == "hello"]
        assert [e["message_id"] for e in received].count(stored.pk) == 1
        event = next(e for e in received if e["message_id"] == stored.pk)
        assert event["schema"] == "alpha"
        assert event["conversation_id"] == stored.conversation_id
        assert event["contact_id"] == stored.conversation.contact_id

    def test_reprocessing_a_delivery_changes_nothing(self, process):
        (delivery,) = process(load_fixture("batch__two_entries_two_numbers"))
        before = [(m.pk, m.wamid) for m in alpha_messages()]
        recorder.clear()
        ingest.deliveries_reset(delivery_ids=[delivery.pk])
        assert ingest.delivery_process(delivery_id=delivery.pk)
        assert [(m.pk, m.wamid) for m in alpha_messages()] == before
        assert recorder.named("message.received") == []

    def test_a_processed_delivery_is_not_claimed_again(self, process):
        (delivery,) = process(load_fixture("message__text"))
        assert ingest.delivery_process(delivery_id=delivery.pk) is False
        assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1


class TestRouting:
    def test_unknown_phone_number_becomes_an_unrouted_event(self, process):
        wa_id = unique_wa_id()
        payload = envelope(
            phone_number_id="999000111222333", contacts=[contact(wa_id)], messages=[text_message(wa_id, "hi")]
        )
        (delivery,) = process(payload)
        assert delivery.state == WebhookDelivery.State.PROCESSED
        (event,) = UnroutedEvent.objects.filter(delivery=delivery)
        assert event.phone_number_id == "999000111222333"
        assert event.reason == "unknown phone_number_id"
        assert event.payload["messages"][0]["text"]["body"] == "hi"
        assert alpha_messages() == []

    def test_non_message_change_becomes_an_unrouted_event(self, process):
        (delivery,) = process(load_fixture("change__template_status_update"))
        (event,) = UnroutedEvent.objects.filter(delivery=delivery)
        assert event.field == "message_template_status_update"
        assert event.reason == "not a messages change"

    def test_metas_value_errors_are_kept(self, process):
        (delivery,) = process(load_fixture("error__value_errors"))
        events = list(UnroutedEvent.objects.filter(delivery=delivery))
        assert events and all(e.reason.startswith("webhook error") for e in events)

    def test_a_body_that_is_not_a_waba_webhook_is_kept(self, process):
        (delivery,) = process({"object": "page", "entry": []})
        assert delivery.state == WebhookDelivery.State.PROCESSED
        (event,) = UnroutedEvent.objects.filter(delivery=delivery)
        assert event.reason.startswith("not a WhatsApp webhook")

    def test_a_failing_tenant_part_is_recorded_and_retried_without_losing_the_others(self, process):
        ghost = Tenant(schema_name="ghost_no_schema", name="Ghost", client_code="GHOST")
        ghost.auto_create_schema = False  # its tables are missing: every write there fails
        ghost.save(verbosity=0)
        PhoneNumber.objects.create(tenant=ghost, phone_number_id="555000000001", access_token="t")
        wa_id = unique_wa_id()
        payload = envelope(contacts=[contact(wa_id)], messages=[text_message(wa_id, "to alpha")])
        payload["entry"].append(
            envelope(
                phone_number_id="555000000001", contacts=[contact(wa_id)], messages=[text_message(wa_id, "to ghost")]
            )["entry"][0]
        )
        (delivery,) = process(payload)
        assert delivery.state == WebhookDelivery.State.FAILED
        assert "555000000001 (ghost_no_schema)" in delivery.error
        assert [m.body for m in alpha_messages()] == ["to alpha"]
        # Due again once its backoff has passed, and a retry does not duplicate alpha's part.
        assert delivery.pk not in ingest.deliveries_due()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(processed_at=timezone.now() - timedelta(minutes=5))
        assert delivery.pk in ingest.deliveries_due()
        assert ingest.delivery_process(delivery_id=delivery.pk)
        assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 2
        assert [m.body for m in alpha_messages()] == ["to alpha"]
        assert len(recorder.named("message.received")) == 1


class TestSweeper:
    def test_the_sweep_is_scheduled_every_30_seconds(self, db):
        # Registered after the public schema's migrations (bizmitra.periodic); re-running is harmless.
        sweeps = PeriodicTask.objects.filter(task="conversations.whatsapp.tasks.webhook_sweep_task")
        assert sweeps.count() == 1
        ingest.webhook_periodic_tasks_ensure()
        (task,) = sweeps
        assert task.enabled
        assert (task.interval.every, task.interval.period) == (30, "seconds")

    def test_only_stuck_pending_deliveries_are_due(self, db, tenants_setup):
        fresh = ingest.delivery_store(body=b"{}")
        stuck = ingest.delivery_store(body=b"{}")
        done = ingest.delivery_store(body=b"{}")
        old = timezone.now() - timedelta(minutes=2)
        WebhookDelivery.objects.filter(pk__in=[stuck, done]).update(received_at=old)
        WebhookDelivery.objects.filter(pk=done).update(state=WebhookDelivery.State.PROCESSED)
        due = ingest.deliveries_due()
        assert stuck in due and fresh not in due and done not in due

    def test_failed_deliveries_stop_after_max_attempts(self, db, tenants_setup):
        delivery_id = ingest.delivery_store(body=b"{}")
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            state=WebhookDelivery.State.FAILED,
            attempts=ingest.MAX_ATTEMPTS,
            processed_at=timezone.now() - timedelta(days=1),
        )
        assert delivery_id not in ingest.deliveries_due()

    def test_sweeper_leaves_pending_ones_to_a_busy_ingest_queue_but_retries_failed_ones(
        self, db, tenants_setup, settings
    ):
        pending = ingest.delivery_store(body=b"{}")
        WebhookDelivery.objects.filter(pk=pending).update(received_at=timezone.now() - timedelta(minutes=1))
        settings.SWEEP_HOLD_QUEUED_TASKS = 2
        with scratch_queue(settings, "ingest") as (client, name):
            client.rpush(name, b"task", b"task")
            assert pending not in ingest.deliveries_due(pending=False)
            assert webhook_sweep_task() == 0  # merely waiting behind the queued work
            failed = ingest.delivery_store(body=b"{}")
            WebhookDelivery.objects.filter(pk=failed).update(
                state=WebhookDelivery.State.FAILED, attempts=1, processed_at=timezone.now() - timedelta(hours=1)
            )
            assert webhook_sweep_task() == 1  # the failed one: nothing else retries it
            client.lpop(name)
            assert webhook_sweep_task() >= 2

    @pytest.mark.worker
    def test_sweeper_reenqueues_a_stuck_pending_delivery(self, live_db, celery_worker):
        wa_id = unique_wa_id()
        body = json.dumps(envelope(contacts=[contact(wa_id)], messages=[text_message(wa_id, "lost in redis")]))
        # Stored, but its Celery message never made it (Redis lost it).
        delivery_id = ingest.delivery_store(body=body.encode())
        WebhookDelivery.objects.filter(pk=delivery_id).update(received_at=timezone.now() - timedelta(minutes=1))
        assert webhook_sweep_task() >= 1
        wait_for(
            lambda: WebhookDelivery.objects.get(pk=delivery_id).state == WebhookDelivery.State.PROCESSED,
            timeout=20,
            what="the swept delivery to be processed",
        )
        with schema_context("alpha"):
            assert Message.objects.get(conversation__contact__wa_id=wa_id).body == "lost in redis"


def _process_in_threads(delivery_ids):
    errors = []
    barrier = threading.Barrier(len(delivery_ids))

    def work(delivery_id):
        try:
            barrier.wait()
            ingest.delivery_process(delivery_id=delivery_id)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(pk,)) for pk in delivery_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def _wait_processed(delivery_ids):
    def states():
        return list(WebhookDelivery.objects.filter(pk__in=delivery_ids).values_list("pk", "state", "error"))

    wait_for(
        lambda: all(state == WebhookDelivery.State.PROCESSED for _, state, _ in states()),
        timeout=30,
        what=lambda: f"every delivery to be processed: {states()}",
    )


def test_parallel_burst_of_five_images_is_one_contact_one_conversation(live_db):
    """Five deliveries of one customer's burst, processed at the same moment by five workers."""
    wa_id = unique_wa_id()
    base = int(time.time()) - 100
    # Meta's timestamps give the order; the deliveries arrive shuffled.
    images = [image_message(wa_id, f"media-{wa_id}-{i}", timestamp=base + i, caption=f"photo {i}") for i in range(5)]
    ids = [
        ingest.delivery_store(body=json.dumps(envelope(contacts=[contact(wa_id, "Burst")], messages=[m])).encode())
        for m in reversed(images)
    ]
    _process_in_threads(ids)
    # A session worker's relay, woken by delivery_store's pg_notify (or by another test's),
    # may have claimed some of them first (it takes pending deliveries in bulk): then a thread
    # found it taken, and the worker's transaction is what to wait for.
    _wait_processed(ids)
    with schema_context("alpha"):
        assert Contact.objects.filter(wa_id=wa_id).count() == 1
        conversation = Conversation.objects.get(contact__wa_id=wa_id)
        # Inbound only: a running worker's conversation engine may already have answered.
        messages = list(conversation.messages.filter(direction=Direction.INBOUND))
        assert [m.body for m in messages] == [f"photo {i}" for i in range(5)]
        assert [m.timestamp for m in messages] == sorted(m.timestamp for m in messages)
        # Never moved back by a shuffled earlier message (an engine answer may move it on).
        assert conversation.last_message_at >= messages[-1].timestamp


def test_parallel_redeliveries_of_one_message_store_it_once(live_db):
    wa_id = unique_wa_id()
    body = json.dumps(envelope(contacts=[contact(wa_id)], messages=[text_message(wa_id, "once")])).encode()
    # Stored as failed a moment ago, without delivery_store's pg_notify: a session worker's
    # relay tasks take pending deliveries along and would race these threads for the rows (its
    # events are not seen by this process), and the sweep retries a failed one only after its
    # backoff. A claim takes any delivery not yet processed, so the threads get them.
    now = timezone.now()
    ids = [
        WebhookDelivery.objects.create(
            body=body, received_at=now, signature_verified=True, state=WebhookDelivery.State.FAILED, processed_at=now
        ).pk
        for _ in range(4)
    ]
    _process_in_threads(ids)
    assert all(WebhookDelivery.objects.get(pk=pk).state == WebhookDelivery.State.PROCESSED for pk in ids)
    with schema_context("alpha"):
        inbound = Message.objects.filter(conversation__contact__wa_id=wa_id, direction=Direction.INBOUND)
        assert inbound.count() == 1  # the engine's answer, if a worker already sent it, is outbound
        message = inbound.get()
    # One stored message, one downstream event (the engine replies from it).
    [event] = [
        e for e in recorder.named("message.received") if e["message_id"] == message.pk and e["schema"] == "alpha"
    ]
    assert event["conversation_id"] == message.conversation_id
    assert len(recorder.named("message.received")) == 1


@pytest.mark.worker
def test_end_to_end_post_is_processed_by_the_worker_into_alphas_schema(live_db, celery_worker):
    wa_id = unique_wa_id()
    wamid = unique_wamid()
    payload = envelope(contacts=[contact(wa_id, "E2E")], messages=[text_message(wa_id, "book me in", wamid=wamid)])
    assert post_webhook(payload, client=None).status_code == 200

    def stored():
        with schema_context("alpha"):
            return Message.objects.filter(wamid=wamid).select_related("conversation__contact").first()

    message = wait_for(stored, timeout=20, what="the worker to store the message")
    assert message.body == "book me in"
    assert message.conversation.contact.profile_name == "E2E"
    with schema_context("beta"):
        assert not Message.objects.filter(wamid=wamid).exists()


def test_the_exact_bytes_from_the_view_are_processed(db, tenants_setup):
    assert post_webhook(fixture_bytes("message__list_reply")).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert ingest.delivery_process(delivery_id=delivery.pk)
    (message,) = alpha_messages()
    assert message.type == MessageType.LIST_REPLY
    assert message.conversation.phone_number_id == ALPHA["phone_number_id"]
