"""What customers send on WhatsApp, through the real pieces: webhook → media download (checked,
stored) → ``message.media_stored`` → Document → OCR on a Celery worker → acknowledgement."""

import base64
import hashlib
import json
import time
import uuid

import pytest
from django.core.files.storage import default_storage
from django_tenants.utils import schema_context

from conversations.choices import MediaStatus
from conversations.models import Message
from conversations.services.media import message_media_fetch
from conversations.tests.inbound_support import contact, envelope, post_webhook, unique_wa_id, unique_wamid
from conversations.whatsapp import ingest
from documents.choices import DocumentStatus
from documents.models import Document
from documents.services import document_best_values, document_create_from_message
from documents.tests.samples import Invoice, invoice_jpeg, scanned_pdf, text_pdf
from tests.support import wait_for
from tests.tenancy import ALPHA


def media_message(wa_id: str, media_id: str, data: bytes, *, type: str, mime_type: str, filename: str = "") -> dict:
    media = {"mime_type": mime_type, "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(), "id": media_id}
    if filename:
        media["filename"] = filename
    return {"from": wa_id, "id": unique_wamid(), "timestamp": str(int(time.time())), "type": type, type: media}


def new_media_id() -> str:
    return str(uuid.uuid4().int)[:16]


@pytest.fixture
def graph(graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    return graph_sandbox


def receive(graph, data: bytes, *, type: str, mime_type: str, filename: str = "") -> int:
    """An inbound media message processed in this process; returns the message id in alpha."""
    media_id = graph.add_media(new_media_id(), data, mime_type, phone_number_id=ALPHA["phone_number_id"])
    wa_id = unique_wa_id()
    message = media_message(wa_id, media_id, data, type=type, mime_type=mime_type, filename=filename)
    ingest.delivery_process(
        delivery_id=ingest.delivery_store(
            body=json.dumps(envelope(contacts=[contact(wa_id)], messages=[message])).encode()
        )
    )
    with schema_context("alpha"):
        return Message.objects.get(media_id=media_id).pk


def test_the_stored_type_is_sniffed_not_taken_from_the_sender(db, tenants_setup, graph):
    message_id = receive(graph, text_pdf(), type="document", mime_type="image/jpeg", filename="photo.jpg")
    with schema_context("alpha"):
        assert message_media_fetch(message_id=message_id) is True
        message = Message.objects.get(pk=message_id)
        assert message.media_mime_type == "application/pdf"
        assert message.media_file.name.startswith("tenants/alpha/media/") and message.media_file.name.endswith(".pdf")
        default_storage.delete(message.media_file.name)


def test_media_over_metas_limit_for_its_type_fails_without_retrying(db, tenants_setup, graph):
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (5 * 1024 * 1024)
    message_id = receive(graph, big, type="image", mime_type="image/jpeg")
    with schema_context("alpha"):
        assert message_media_fetch(message_id=message_id) is False
        message = Message.objects.get(pk=message_id)
        assert message.media_status == MediaStatus.FAILED
        assert "WhatsApp allows at most 5242880 bytes" in message.media_error
        assert not message.media_file


def test_stored_media_becomes_a_document_only_for_images_and_pdfs(
    db, tenants_setup, graph, django_capture_on_commit_callbacks
):
    pdf = receive(graph, text_pdf(), type="document", mime_type="application/pdf", filename="bill.pdf")
    audio = receive(graph, b"OggS" + b"\x00" * 100, type="audio", mime_type="audio/ogg")
    with schema_context("alpha"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            message_media_fetch(message_id=pdf)
            message_media_fetch(message_id=audio)
        # the event's dispatch runs the documents listener; its own enqueue is not run here
        with django_capture_on_commit_callbacks(execute=False):
            for callback in callbacks:
                callback()
        document = Document.objects.get(message_id=pdf)
        assert (document.status, document.mime_type, document.filename) == ("queued", "application/pdf", "bill.pdf")
        assert document.file.name == Message.objects.get(pk=pdf).media_file.name  # one stored copy
        assert not Document.objects.filter(message_id=audio).exists()
        # the event again (a redelivered media job, a second listener run): still one document
        with django_capture_on_commit_callbacks(execute=False):
            for callback in callbacks:
                callback()
            assert document_create_from_message(message_id=pdf) == document
        assert Document.objects.filter(message_id=pdf).count() == 1


@pytest.mark.parametrize(
    "make,type,mime_type", [(invoice_jpeg, "image", "image/jpeg"), (scanned_pdf, "document", "application/pdf")]
)
def test_an_invoice_sent_on_whatsapp_is_read_and_acknowledged(
    live_db, celery_worker, graph_sandbox, make, type, mime_type
):
    invoice = Invoice()
    data = make(invoice)
    media_id = graph_sandbox.add_media(new_media_id(), data, mime_type, phone_number_id=ALPHA["phone_number_id"])
    wa_id = unique_wa_id()
    message = media_message(
        wa_id, media_id, data, type=type, mime_type=mime_type, filename="invoice.pdf" if type == "document" else ""
    )
    assert post_webhook(envelope(contacts=[contact(wa_id)], messages=[message])).status_code == 200

    def document():
        with schema_context("alpha"):
            return Document.objects.filter(message__media_id=media_id).first()

    done = wait_for(
        lambda: (d := document()) and d.status in (DocumentStatus.DONE, DocumentStatus.FAILED) and d,
        timeout=90,
        what="the worker to read the document",
    )
    assert done.status == DocumentStatus.DONE, done.failure_reason
    with schema_context("alpha"):
        best = document_best_values(done)
    assert (best["invoice_number"], best["amount"], best["date"], best["gstin"], best["email"]) == (
        invoice.number,
        invoice.total_value,
        invoice.iso_day,
        invoice.gstin,
        invoice.email,
    )

    def bodies_to_customer() -> list[str]:
        return [
            m["payload"]["text"]["body"]
            for m in graph_sandbox.sent_messages
            if wa_id in (m.get("wa_id"), str(m.get("to", "")).lstrip("+")) and m["payload"].get("type") == "text"
        ]

    bodies = wait_for(
        lambda: (b := bodies_to_customer()) and any("we received your" in body for body in b) and b,
        timeout=30,
        what="the acknowledgement to be sent",
    )
    assert "Thanks, we received your invoice of ₹1,25,000 dated 3 Dec. We will get back to you shortly." in bodies
    with schema_context("alpha"):
        default_storage.delete(done.file.name)
        if done.thumbnail:
            default_storage.delete(done.thumbnail.name)
