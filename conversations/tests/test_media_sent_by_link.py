"""Files sent by ``link`` are kept in our storage too, downloaded in the background (issue 12 §1).

The links point at a real HTTP server on loopback (pytest-httpserver), which only the test
settings allow (``WHATSAPP_MEDIA_LINK_ALLOW_NETWORKS``); the refusal tests take that away or
use private addresses, which nothing may fetch. The task runs in this process with
``apply()`` (the ``db`` fixture never commits, so nothing is enqueued); the worker tests at
the end follow the send API's on-commit task, and the sweep, through the session's worker.
"""

import hashlib
import io
import json
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.test import Client, TestCase
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image, ImageDraw
from pytest_httpserver import HTTPServer
from werkzeug import Response

from bizmitra.events import _listeners, listens_to
from conversations.choices import Direction, MediaStatus, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message
from conversations.services.media_links import message_media_link_fetch
from conversations.services.outbound import message_send
from conversations.tasks.inbound import media_link_fetch_task, media_owed_sweep_task
from tests.support import free_port, wait_for
from tests.tenancy import ALPHA, tenant_client

SCHEMA = ALPHA["schema_name"]
FIVE_MB = 5 * 1024 * 1024


def drawn_png(text: str = "Shelf 4") -> bytes:
    image = Image.new("RGB", (320, 200), "white")
    ImageDraw.Draw(image).text((20, 80), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


PNG = drawn_png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def files():
    """A real HTTP server on 127.0.0.1 (a socket the worker can reach too)."""
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def served(files):
    files.clear()
    yield files
    files.clear()


def api_client(onboarding) -> Client:
    return Client(HTTP_HOST=onboarding.domain.domain, HTTP_AUTHORIZATION=f"Bearer {onboarding.api_key.raw_key}")


def customer() -> tuple[str, int]:
    """A contact who wrote five minutes ago (the window is open); (phone, conversation id)."""
    phone = f"+1555{uuid.uuid4().int % 10**7:07d}"
    with schema_context(SCHEMA):
        contact = Contact.objects.create(wa_id=phone.lstrip("+"), last_inbound_at=timezone.now() - timedelta(minutes=5))
        conversation = Conversation.objects.create(contact=contact, phone_number_id=ALPHA["phone_number_id"])
    return phone, conversation.pk


def send_link(onboarding, kind: str, link: str, **extra) -> Message:
    phone, _ = customer()
    body = {"to": phone, "type": kind, kind: {"link": link, **extra}}
    response = api_client(onboarding).post("/api/messages/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content
    return load(response.json()["message_id"])


def load(message_id: int) -> Message:
    with schema_context(SCHEMA):
        return Message.objects.get(pk=message_id)


def fetch(message_id: int) -> list[dict]:
    """Run the download task here; the events it published (after its commit), in order."""
    seen: list[dict] = []

    def listener(*, event_name: str, schema_name: str, **payload) -> None:
        seen.append({"event": event_name, "schema": schema_name, **payload})

    listens_to("conversation.updated")(listener)
    try:
        with schema_context(SCHEMA), TestCase.captureOnCommitCallbacks(execute=True):
            result = media_link_fetch_task.apply(kwargs={"message_id": message_id})
    finally:
        _listeners["conversation.updated"].remove(listener)
    assert result.successful(), result.traceback  # a link we cannot keep is never an exception
    return seen


def stored_bytes(message: Message) -> bytes:
    with schema_context(SCHEMA), default_storage.open(message.media_file.name) as handle:
        return handle.read()


def forget(message: Message) -> None:
    if message.media_file:
        with schema_context(SCHEMA):
            default_storage.delete(message.media_file.name)


def test_an_image_sent_by_link_is_stored_and_shown_in_the_thread(alpha, db, served):
    served.expect_request("/catalogue/shelf.png").respond_with_data(PNG, content_type="image/png")
    message = send_link(alpha, "image", served.url_for("/catalogue/shelf.png"), caption="Our shelf")
    assert message.media_status == MediaStatus.PENDING  # owed from the moment it is queued
    assert message.payload["image"]["link"].endswith("/catalogue/shelf.png")  # Meta still gets the link

    events = fetch(message.pk)
    message = load(message.pk)
    assert (message.media_status, message.media_error) == (MediaStatus.DOWNLOADED, "")
    # An open thread re-renders it (the live inbox refreshes a conversation on this event).
    assert events == [{"event": "conversation.updated", "schema": SCHEMA, "conversation_id": message.conversation_id}]
    assert message.media_mime_type == "image/png"
    assert message.media_sha256 == hashlib.sha256(PNG).hexdigest()
    assert message.media_file.name.startswith("tenants/alpha/sent/") and message.media_file.name.endswith("-shelf.png")
    assert stored_bytes(message) == PNG
    assert message.status == MessageStatus.QUEUED  # the send itself is not ours to touch

    owner = tenant_client(alpha, login=True)
    page = owner.get(f"/c/{message.conversation_id}/").content.decode()
    assert f'<img src="/c/{message.conversation_id}/media/{message.pk}/"' in page
    media = owner.get(f"/c/{message.conversation_id}/media/{message.pk}/")
    assert media.status_code == 200 and media["Content-Type"] == "image/png"
    assert b"".join(media.streaming_content) == PNG

    assert fetch(message.pk) == []  # a second run (a redelivered task, the sweep) changes nothing
    assert load(message.pk).media_file.name == message.media_file.name
    assert len(served.log) == 1
    forget(message)


def test_a_document_keeps_its_filename_and_its_sniffed_type(alpha, db, served):
    served.expect_request("/q").respond_with_data(PDF, content_type="application/octet-stream")
    message = send_link(alpha, "document", served.url_for("/q"), filename="Quote March.pdf")
    fetch(message.pk)
    message = load(message.pk)
    assert message.media_status == MediaStatus.DOWNLOADED
    assert message.media_mime_type == "application/pdf"
    assert message.media_filename == "Quote March.pdf"
    assert message.media_file.name.endswith("-Quote_March.pdf")
    page = tenant_client(alpha, login=True).get(f"/c/{message.conversation_id}/").content.decode()
    assert "Quote March.pdf" in page and f"/c/{message.conversation_id}/media/{message.pk}/?download=1" in page
    forget(message)


def test_a_dead_link_leaves_the_message_sent_with_the_reason_shown(alpha, db, served):
    served.expect_request("/gone.png").respond_with_data("Not Found", status=404)
    message = send_link(alpha, "image", served.url_for("/gone.png"))
    fetch(message.pk)
    message = load(message.pk)
    assert message.media_status == MediaStatus.FAILED
    assert message.media_error == "the link answered HTTP 404"
    assert not message.media_file
    assert message.status == MessageStatus.QUEUED
    page = tenant_client(alpha, login=True).get(f"/c/{message.conversation_id}/").content.decode()
    assert "the link answered HTTP 404" in page
    assert len(served.log) == 1  # a 404 is not retried


def _chunks(data: bytes, size: int = 256 * 1024):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_file_over_metas_limit_for_its_type_is_not_kept(alpha, db, served, declared):
    too_big = b"\x89PNG\r\n\x1a\n" + b"\x00" * FIVE_MB
    if declared:
        served.expect_request("/big.png").respond_with_data(too_big, content_type="image/png")
    else:  # no Content-Length: the stream is cut once it passes the limit
        served.expect_request("/big.png").respond_with_response(Response(_chunks(too_big), content_type="image/png"))
    message = send_link(alpha, "image", served.url_for("/big.png"))
    fetch(message.pk)
    message = load(message.pk)
    assert message.media_status == MediaStatus.FAILED
    assert message.media_error == f"the file is larger than the {FIVE_MB} bytes WhatsApp allows for this type"
    assert not message.media_file


def test_a_link_serving_something_else_than_its_type_is_not_kept(alpha, db, served):
    served.expect_request("/photo.png").respond_with_data("<html>Please sign in</html>", content_type="image/png")
    message = send_link(alpha, "image", served.url_for("/photo.png"))
    fetch(message.pk)
    message = load(message.pk)
    assert message.media_status == MediaStatus.FAILED
    assert message.media_error == "the link serves text/plain, which WhatsApp does not take as an image"


@pytest.mark.parametrize(
    "link",
    [
        "http://10.20.30.40/invoice.png",
        "http://169.254.169.254/latest/meta-data/iam/",  # the cloud metadata service
        "http://192.168.1.1:8080/a.png",
        "http://[::ffff:172.16.0.9]/a.png",
        "http://[fd00::1]/a.png",
    ],
)
def test_private_addresses_are_refused(alpha, db, link):
    message = send_link(alpha, "image", link)
    fetch(message.pk)
    message = load(message.pk)
    assert message.media_status == MediaStatus.FAILED
    assert message.media_error.endswith("is not a public address")
    assert message.status == MessageStatus.QUEUED


def test_a_host_that_does_not_exist_fails_at_once(alpha, db):
    message = send_link(alpha, "image", "https://no-such-host.invalid/a.png")  # .invalid never resolves
    with schema_context(SCHEMA):
        assert message_media_link_fetch(message_id=message.pk) is False  # not raised: no retry
    assert load(message.pk).media_error == "no-such-host.invalid cannot be resolved"


def test_loopback_is_refused_without_the_test_allow_list(alpha, db, served, settings):
    settings.WHATSAPP_MEDIA_LINK_ALLOW_NETWORKS = []
    served.expect_request("/shelf.png").respond_with_data(PNG, content_type="image/png")
    message = send_link(alpha, "image", served.url_for("/shelf.png"))
    fetch(message.pk)
    assert load(message.pk).media_error == "127.0.0.1 is not a public address"
    localhost = send_link(alpha, "image", served.url_for("/shelf.png").replace("127.0.0.1", "localhost"))
    fetch(localhost.pk)
    assert load(localhost.pk).media_error.startswith("localhost is at ")
    assert served.log == []  # refused before any connection


def test_a_redirect_to_a_private_address_is_refused(alpha, db, served):
    served.expect_request("/r").respond_with_response(
        Response(status=302, headers={"Location": "http://10.0.0.5/secret.png"})
    )
    message = send_link(alpha, "image", served.url_for("/r"))
    fetch(message.pk)
    message = load(message.pk)
    assert (message.media_status, message.media_error) == (
        MediaStatus.FAILED,
        "10.0.0.5 is not a public address",
    )


def test_a_redirect_within_allowed_hosts_is_followed(alpha, db, served):
    served.expect_request("/short").respond_with_response(Response(status=301, headers={"Location": "/files/a.png"}))
    served.expect_request("/files/a.png").respond_with_data(PNG, content_type="image/png")
    message = send_link(alpha, "image", served.url_for("/short"))
    fetch(message.pk)
    message = load(message.pk)
    assert message.media_status == MediaStatus.DOWNLOADED and message.media_file.name.endswith("-a.png")
    forget(message)


def test_a_temporary_failure_is_retried_and_then_kept(alpha, db, served):
    served.expect_ordered_request("/busy.png").respond_with_data("busy", status=503)
    served.expect_ordered_request("/busy.png").respond_with_data(PNG, content_type="image/png")
    message = send_link(alpha, "image", served.url_for("/busy.png"))
    with schema_context(SCHEMA):
        with pytest.raises(Exception, match="HTTP 503"):  # what the task's retry policy sees
            message_media_link_fetch(message_id=message.pk)
    assert (load(message.pk).media_status, load(message.pk).media_error) == (
        MediaStatus.PENDING,
        "the link answered HTTP 503",
    )
    fetch(message.pk)
    message = load(message.pk)
    assert (message.media_status, message.media_error) == (MediaStatus.DOWNLOADED, "")
    forget(message)


def test_retries_used_up_leave_the_reason(alpha, db, served, settings):
    settings.WHATSAPP_MEDIA_LINK_MAX_RETRIES = 1
    served.expect_request("/down.png").respond_with_data("down", status=502)
    message = send_link(alpha, "image", served.url_for("/down.png"))
    fetch(message.pk)  # the first try and one retry, in this process
    message = load(message.pk)
    assert (message.media_status, message.media_error) == (MediaStatus.FAILED, "the link answered HTTP 502")
    assert len(served.log) == 2


def test_messages_sent_by_media_id_owe_nothing(alpha, db):
    phone, _ = customer()
    with schema_context(SCHEMA):
        by_id = message_send(to=phone, type="image", content={"id": "1234567890"})
        text = message_send(to=phone, type="text", content="Hello")
        assert by_id.media_status == text.media_status == MediaStatus.NONE
        assert Message.objects.get(pk=by_id.pk).media_status == MediaStatus.NONE


def test_the_download_runs_on_the_background_queue():
    from bizmitra.celery import app

    queue = app.amqp.router.route({}, media_link_fetch_task.name)["queue"].name
    assert queue == django_settings.CELERY_TASK_DEFAULT_QUEUE  # the background worker's, not a reply queue


# --- through the worker ----------------------------------------------------------------------


@pytest.mark.worker
def test_the_send_api_queues_the_download_and_the_worker_keeps_the_file(live_db, alpha, celery_worker, files):
    path = f"/w/{uuid.uuid4().hex}.png"
    files.expect_request(path).respond_with_data(PNG, content_type="image/png")
    message = send_link(alpha, "image", files.url_for(path))

    stored = wait_for(
        lambda: (m := load(message.pk)).media_status == MediaStatus.DOWNLOADED and m,
        timeout=30,
        what="the worker to keep the linked file",
    )
    assert stored_bytes(stored) == PNG
    sent = wait_for(lambda: load(message.pk).wamid, timeout=30, what="the message itself to be sent")
    assert sent.startswith("wamid.")
    forget(stored)


@pytest.mark.worker
def test_a_link_whose_task_was_lost_is_kept_by_the_media_sweep(live_db, celery_worker, files):
    path = f"/lost/{uuid.uuid4().hex}.png"
    files.expect_request(path).respond_with_data(PNG, content_type="image/png")
    _, conversation_id = customer()
    with schema_context(SCHEMA):
        # What message_send stores for a link; its download task went down with Redis.
        message = Message.objects.create(
            conversation_id=conversation_id,
            direction=Direction.OUTBOUND,
            type=MessageType.IMAGE,
            payload={"type": "image", "image": {"link": files.url_for(path)}},
            status=MessageStatus.SENT,
            wamid=f"wamid.lost-{uuid.uuid4().hex}",
            timestamp=timezone.now(),
            media_status=MediaStatus.PENDING,
        )
        Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(hours=2))

    media_owed_sweep_task.delay()

    try:
        stored = wait_for(
            lambda: (m := load(message.pk)).media_status == MediaStatus.DOWNLOADED and m,
            timeout=60,
            what="the sweep to fetch the forgotten link",
        )
    finally:  # never leave a forgotten row behind for the other sweep tests to find
        with schema_context(SCHEMA):
            Message.objects.filter(pk=message.pk, media_status=MediaStatus.PENDING).update(
                media_status=MediaStatus.FAILED
            )
    assert stored_bytes(stored) == PNG and stored.status == MessageStatus.SENT
    forget(stored)
