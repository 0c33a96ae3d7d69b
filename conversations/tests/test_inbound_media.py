"""Inbound media: fetched from the Graph API (the sandbox) by its own retried job, never lost."""

import contextlib
import json
import uuid

import pytest
from django.core.files.storage import default_storage
from django_tenants.utils import schema_context

from bizmitra.graph_api.client import GraphTransportError
from conversations.choices import MediaStatus
from conversations.models import Message
from conversations.services.inbound import message_media_fetch
from conversations.tasks.inbound import media_fetch_task
from conversations.tests.inbound_support import contact, envelope, image_message, post_webhook, unique_wa_id
from conversations.whatsapp import ingest
from tests.support import wait_for
from tests.tenancy import ALPHA

JPEG = b"\xff\xd8\xff\xe0" + b"fake jpeg bytes " * 64


@pytest.fixture
def graph(graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    return graph_sandbox


@contextlib.contextmanager
def media_urls_expired(sandbox):
    """Every media URL the sandbox hands out is already expired: downloads answer 404."""
    ttl = sandbox.media_url_ttl
    sandbox.media_url_ttl = -60
    try:
        yield
    finally:
        sandbox.media_url_ttl = ttl


def store_image(media_id: str, *, caption: str = "my x-ray") -> int:
    """Process an inbound image webhook in this process; returns the message id in alpha."""
    wa_id = unique_wa_id()
    payload = envelope(
        contacts=[contact(wa_id)], messages=[image_message(wa_id, media_id, timestamp=1, caption=caption)]
    )
    ingest.delivery_process(delivery_id=ingest.delivery_store(body=json.dumps(payload).encode()))
    with schema_context("alpha"):
        return Message.objects.get(media_id=media_id).pk


def load(message_id: int) -> Message:
    with schema_context("alpha"):
        return Message.objects.get(pk=message_id)


def read_file(message: Message) -> bytes:
    with default_storage.open(message.media_file.name) as handle:
        return handle.read()


def new_media_id() -> str:
    return str(uuid.uuid4().int)[:16]


def test_media_is_downloaded_into_the_message(db, tenants_setup, graph):
    media_id = graph.add_media(new_media_id(), JPEG, "image/jpeg", phone_number_id=ALPHA["phone_number_id"])
    message_id = store_image(media_id)
    with schema_context("alpha"):
        assert message_media_fetch(message_id=message_id) is True
    message = load(message_id)
    assert message.media_status == MediaStatus.DOWNLOADED
    assert message.media_error == ""
    assert "/alpha/" in message.media_file.name and message.media_file.name.endswith(".jpg")
    assert read_file(message) == JPEG
    assert message.body == "my x-ray"
    with schema_context("alpha"):
        assert message_media_fetch(message_id=message_id) is False  # already there: nothing to do
    default_storage.delete(message.media_file.name)


def test_a_temporary_failure_keeps_the_message_and_a_retry_attaches_the_file(db, tenants_setup, graph):
    media_id = graph.add_media(new_media_id(), JPEG, "image/jpeg", phone_number_id=ALPHA["phone_number_id"])
    message_id = store_image(media_id)
    with media_urls_expired(graph), schema_context("alpha"), pytest.raises(GraphTransportError) as failure:
        message_media_fetch(message_id=message_id)
    assert failure.value.retryable
    message = load(message_id)
    assert message.media_status == MediaStatus.PENDING
    assert "404" in message.media_error
    assert message.body == "my x-ray"

    with schema_context("alpha"):
        assert message_media_fetch(message_id=message_id) is True
    message = load(message_id)
    assert (message.media_status, message.media_error) == (MediaStatus.DOWNLOADED, "")
    assert read_file(message) == JPEG
    default_storage.delete(message.media_file.name)


def test_a_permanent_failure_is_recorded_and_a_later_fetch_still_attaches(db, tenants_setup, graph):
    media_id = new_media_id()  # not on the Graph side (yet): Meta answers error 100
    message_id = store_image(media_id)
    with schema_context("alpha"):
        media_fetch_task.apply(kwargs={"message_id": message_id})
    message = load(message_id)
    assert message.media_status == MediaStatus.FAILED
    assert "100" in message.media_error

    graph.add_media(media_id, JPEG, "image/jpeg", phone_number_id=ALPHA["phone_number_id"])
    with schema_context("alpha"):
        media_fetch_task.apply(kwargs={"message_id": message_id})
    message = load(message_id)
    assert message.media_status == MediaStatus.DOWNLOADED
    assert read_file(message) == JPEG
    default_storage.delete(message.media_file.name)


@pytest.mark.worker
def test_worker_retries_a_failed_download_with_backoff(live_db, celery_worker, graph_sandbox):
    """Webhook → worker stores the image → its media job fails (expired URL) → retried → attached."""
    media_id = graph_sandbox.add_media(new_media_id(), JPEG, "image/jpeg", phone_number_id=ALPHA["phone_number_id"])
    wa_id = unique_wa_id()
    payload = envelope(contacts=[contact(wa_id)], messages=[image_message(wa_id, media_id, timestamp=1)])

    def message():
        with schema_context("alpha"):
            return Message.objects.filter(media_id=media_id).first()

    with media_urls_expired(graph_sandbox):
        assert post_webhook(payload).status_code == 200
        wait_for(lambda: message() and message().media_error, timeout=20, what="a first failed download")
        assert message().media_status == MediaStatus.PENDING
    stored = wait_for(
        lambda: (m := message()) and m.media_status == MediaStatus.DOWNLOADED and m,
        timeout=20,
        what="a retry to download the media",
    )
    assert read_file(stored) == JPEG
    assert stored.media_error == ""
    default_storage.delete(stored.media_file.name)
