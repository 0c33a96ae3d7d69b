"""The Documents pages (server-rendered, htmx fragments): list, detail, correcting, reviewing."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from documents.models import Document
from documents.services import document_create_from_upload, document_process
from documents.tests.samples import Invoice, text_pdf
from tenants.services import owner_create
from tests.tenancy import tenant_client

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def owner(alpha, db):
    return tenant_client(alpha, login=True)


@pytest.fixture
def agent(alpha, db):
    email = f"agent-{uuid.uuid4().hex[:6]}@alpha.test"
    with schema_context("alpha"):
        owner_create(email=email, password="agent-password", is_owner=False)
    client = tenant_client(alpha)
    assert client.post("/login/", {"username": email, "password": "agent-password"}).status_code == 302
    return client


def read_document(data: bytes | None = None, name: str = "invoice.pdf") -> Document:
    with schema_context("alpha"):
        document = document_create_from_upload(upload=SimpleUploadedFile(name, data or text_pdf()))
        document_process(document_id=document.pk)
        document.refresh_from_db()
        return document


def test_list_shows_kind_status_thumbnail_and_key_fields(owner):
    document = read_document()
    failed = read_document(b"%PDF-1.7 broken", "broken.pdf")
    html = owner.get("/documents/").content.decode()
    assert f'href="/documents/{document.pk}/"' in html
    assert "Invoice" in html and "Valid" in html and "125000.00" in html and Invoice().number in html
    assert 'src="/files/' in html  # the thumbnail, through a signed link
    assert "the PDF is corrupt" in html and f'href="/documents/{failed.pk}/"' in html


def test_list_filters_and_answers_htmx_with_the_grid_only(owner):
    document = read_document()
    failed = read_document(b"%PDF-1.7 broken", "broken.pdf")
    grid = owner.get("/documents/?status=failed", HTTP_HX_REQUEST="true")
    html = grid.content.decode()
    assert "<html" not in html
    assert f"/documents/{failed.pk}/" in html and f"/documents/{document.pk}/" not in html
    bad = owner.get("/documents/?kind=passport")
    assert bad.status_code == 422 and "That filter is not valid" in bad.content.decode()


def test_detail_shows_fields_and_where_they_were_found(owner):
    document = read_document()
    html = owner.get(f"/documents/{document.pk}/").content.decode()
    assert "Grand Total: Rs. 1,25,000.00" in html
    assert "Mark reviewed" in html and "Correct" in html
    assert owner.get("/documents/99999999/").status_code == 404


def test_owner_corrects_a_field_inline(owner, alpha):
    document = read_document()
    with schema_context("alpha"):
        field = document.fields.get(name="amount")
    response = owner.post(
        f"/documents/{document.pk}/fields/", {"name": "amount", "value": "1,30,000"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200 and f'id="field-{field.pk}"' in html
    assert "130000.00" in html and "read as" in html and "125000.00" in html and alpha.owner_email in html
    bad = owner.post(f"/documents/{document.pk}/fields/", {"name": "email", "value": XSS}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422 and "not an email" in bad.content.decode()
    assert XSS not in bad.content.decode()  # escaped


def test_owner_marks_reviewed(owner):
    document = read_document()
    response = owner.post(f"/documents/{document.pk}/review/")
    assert response.status_code == 302
    html = owner.get(f"/documents/{document.pk}/").content.decode()
    assert "Reviewed by" in html and "Mark reviewed" not in html


def test_agents_see_documents_but_cannot_change_them(agent):
    document = read_document()
    html = agent.get(f"/documents/{document.pk}/").content.decode()
    assert "125000.00" in html and "Mark reviewed" not in html and "Correct" not in html
    assert agent.post(f"/documents/{document.pk}/review/").status_code == 403
    assert agent.post(f"/documents/{document.pk}/fields/", {"name": "amount", "value": "1"}).status_code == 403


def test_pages_need_a_signed_in_user(alpha, db):
    response = tenant_client(alpha).get("/documents/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_inline_card_for_a_conversation_message(owner, alpha):
    from conversations.choices import Direction
    from conversations.models import Contact, Conversation, Message

    with schema_context("alpha"):
        contact = Contact.objects.create(wa_id=f"9197{uuid.uuid4().int % 10**8:08d}")
        conversation = Conversation.objects.create(contact=contact, phone_number_id="106540352242922")
        message = Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type="document",
            wamid=f"wamid.{uuid.uuid4().hex}",
            timestamp=timezone.now(),
        )
        plain = Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type="text",
            wamid=f"wamid.{uuid.uuid4().hex}",
            timestamp=timezone.now(),
        )
    document = read_document()
    with schema_context("alpha"):
        Document.objects.filter(pk=document.pk).update(message=message, contact=contact)
    card = owner.get(f"/documents/for-message/{message.pk}/", HTTP_HX_REQUEST="true")
    html = card.content.decode()
    assert card.status_code == 200 and f'href="/documents/{document.pk}/"' in html and "125000.00" in html
    assert owner.get(f"/documents/for-message/{plain.pk}/").status_code == 204


def test_the_conversation_thread_asks_for_the_card_under_a_received_file(owner, alpha):
    from django.core.files.base import ContentFile

    from conversations.choices import Direction
    from conversations.models import Contact, Conversation, Message

    with schema_context("alpha"):
        contact = Contact.objects.create(wa_id=f"9196{uuid.uuid4().int % 10**8:08d}", last_inbound_at=timezone.now())
        conversation = Conversation.objects.create(contact=contact, phone_number_id="106540352242922")
        with_file = Message(
            conversation=conversation,
            direction=Direction.INBOUND,
            type="document",
            wamid=f"wamid.{uuid.uuid4().hex}",
            timestamp=timezone.now(),
            media_filename="invoice.pdf",
        )
        with_file.media_file.save("invoice.pdf", ContentFile(b"%PDF-1.4 test"), save=False)
        with_file.save()
        text = Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type="text",
            body="hello",
            wamid=f"wamid.{uuid.uuid4().hex}",
            timestamp=timezone.now(),
        )
    html = owner.get(f"/c/{conversation.pk}/thread/", HTTP_HX_REQUEST="true").content.decode()
    assert f'hx-get="/documents/for-message/{with_file.pk}/"' in html
    assert f"/documents/for-message/{text.pk}/" not in html
