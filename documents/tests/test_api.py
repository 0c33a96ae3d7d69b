"""The documents API on a tenant's domain: upload, list, detail, reprocess, corrections, review."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from documents.models import Document
from documents.services import document_create_from_upload, document_process
from documents.tests.samples import Invoice, invoice_png, text_pdf
from tests.tenancy import tenant_client


@pytest.fixture
def owner(alpha, db):
    return tenant_client(alpha, login=True)


def read_document(data: bytes = None, name: str = "invoice.pdf") -> int:
    with schema_context("alpha"):
        document = document_create_from_upload(upload=SimpleUploadedFile(name, data or text_pdf()))
        document_process(document_id=document.pk)
        return document.pk


def test_upload_queues_a_document(owner, alpha):
    response = owner.post("/api/documents/", {"file": SimpleUploadedFile("scan.png", invoice_png())})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["mime_type"], body["source"]) == ("queued", "image/png", "upload")
    assert body["links"]["file"].startswith("http://alpha.test/files/")
    assert owner.get(body["links"]["file"]).status_code == 200
    with schema_context("alpha"):
        assert Document.objects.get(pk=body["id"]).uploaded_by.email == alpha.owner_email


@pytest.mark.parametrize(
    "files,message",
    [
        ({"file": SimpleUploadedFile("a.zip", b"PK\x03\x04" + b"\x00" * 50)}, "cannot be read"),
        ({}, "Invalid input"),
        ({"file": SimpleUploadedFile("big.pdf", b"%PDF-1.7" + b"0" * (10 * 1024 * 1024))}, "larger than 10 MB"),
    ],
)
def test_bad_uploads_get_a_clear_422(owner, files, message):
    response = owner.post("/api/documents/", files)
    assert response.status_code == 422
    assert message in response.json()["message"]


def test_upload_to_an_unknown_contact_is_422(owner):
    response = owner.post("/api/documents/", {"file": SimpleUploadedFile("a.pdf", text_pdf()), "contact": 999999})
    assert response.status_code == 422 and "contact" in response.json()["fields"]


def test_detail_has_fields_text_pages_and_links(owner):
    document_id = read_document()
    body = owner.get(f"/api/documents/{document_id}/").json()
    assert body["status"] == "done" and body["kind"] == "invoice"
    assert body["key_fields"]["invoice_number"] == Invoice().number
    amount = next(f for f in body["fields"] if f["name"] == "amount")
    assert (amount["value"], amount["page"], amount["snippet"]) == ("125000.00", 1, "Grand Total: Rs. 1,25,000.00")
    assert "TAX INVOICE" in body["text"]
    assert body["pages"][0]["method"] == "text_layer"
    assert body["links"]["thumbnail"].startswith("http://alpha.test/files/")


def test_list_filters_and_a_bad_filter_is_422(owner):
    done = read_document()
    failed = read_document(b"%PDF-1.7 broken", "broken.pdf")
    ids = lambda query: [d["id"] for d in owner.get(f"/api/documents/?{query}").json()["results"]]  # noqa: E731
    assert done in ids("status=done") and failed not in ids("status=done")
    assert failed in ids("status=failed")
    assert done in ids("kind=invoice") and failed not in ids("kind=invoice")
    assert done in ids("q=INV-2026-0042") and failed not in ids("q=INV-2026-0042")
    response = owner.get("/api/documents/?kind=passport")
    assert response.status_code == 422 and "kind" in response.json()["fields"]
    assert owner.get("/api/documents/?created_after=yesterday").status_code == 422


def test_list_query_count_does_not_grow_with_documents(owner):
    read_document()

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert owner.get("/api/documents/").status_code == 200
        return len(queries)

    few = count()
    read_document()
    read_document()
    assert count() == few


def test_correct_a_field_and_mark_reviewed(owner, alpha):
    document_id = read_document()
    response = owner.post(f"/api/documents/{document_id}/fields/", {"name": "amount", "value": "1,30,000.00"})
    assert response.status_code == 200
    field = response.json()
    assert (field["value"], field["original_value"], field["corrected_by"]) == (
        "130000.00",
        "125000.00",
        alpha.owner_email,
    )
    bad = owner.post(f"/api/documents/{document_id}/fields/", {"name": "email", "value": "not-an-email"})
    assert bad.status_code == 422 and "not an email" in bad.json()["message"]
    unknown = owner.post(f"/api/documents/{document_id}/fields/", {"name": "colour", "value": "red"})
    assert unknown.status_code == 422
    reviewed = owner.post(f"/api/documents/{document_id}/review/").json()
    assert reviewed["reviewed_by"] == alpha.owner_email and reviewed["reviewed_at"]
    assert reviewed["key_fields"]["amount"] == "130000.00"


def test_reprocess_queues_again(owner):
    document_id = read_document(b"%PDF-1.7 broken", "broken.pdf")
    response = owner.post(f"/api/documents/{document_id}/reprocess/")
    assert response.status_code == 202 and response.json()["status"] == "queued"


def test_other_tenants_and_strangers_see_nothing(owner, beta):
    document_id = read_document()
    beta_owner = tenant_client(beta, login=True)
    assert beta_owner.get(f"/api/documents/{document_id}/").status_code == 404
    assert document_id not in [d["id"] for d in beta_owner.get("/api/documents/").json()["results"]]
    assert tenant_client(beta).get("/api/documents/").status_code in (401, 403)
    assert owner.get("/api/documents/99999999/").status_code == 404


def test_api_key_callers_can_upload_and_correct(alpha, db):
    from django.test import Client

    client = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")
    response = client.post("/api/documents/", {"file": SimpleUploadedFile("a.pdf", text_pdf())})
    assert response.status_code == 201
    document_id = read_document()
    field = client.post(f"/api/documents/{document_id}/fields/", {"name": "currency", "value": "usd"}).json()
    assert (field["value"], field["corrected_by"]) == ("USD", None)
