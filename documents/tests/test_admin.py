"""The tenant admin of documents: settings (secret write-only, encrypted), the list and "read again"."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import schema_context

from documents.models import Document, DocumentSettings
from documents.services import document_create_from_upload, document_process, document_settings_get
from documents.tests.samples import text_pdf
from tests.tenancy import tenant_client

FORM = {
    "ocr_languages": "eng",
    "date_order": "MDY",
    "default_currency": "USD",
    "acknowledge": "on",
    "acknowledgement": "Got your {kind}{amount}.",
    "fill_lead": "on",
    "storage": "",
    "cloudinary_cloud_name": "",
    "cloudinary_api_key": "",
    "cloudinary_api_secret": "",
    "cloudinary_upload_prefix": "",
}


def test_settings_page_saves_and_keeps_the_secret_write_only(alpha, db):
    client = tenant_client(alpha, login=True)
    page = client.get("/admin/documents/documentsettings/", follow=True)
    assert page.status_code == 200 and "Cloudinary API secret" in page.content.decode()
    url = page.wsgi_request.path
    response = client.post(url, {**FORM, "cloudinary_api_secret": "s3cr3t-value"})
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("alpha"):
        config = document_settings_get()
        assert (config.ocr_languages, config.date_order, config.fill_lead) == ("eng", "MDY", True)
        assert config.cloudinary_api_secret == "s3cr3t-value"
        with connection.cursor() as cursor:
            cursor.execute("SELECT cloudinary_api_secret FROM documents_documentsettings WHERE id = 1")
            assert "s3cr3t-value" not in cursor.fetchone()[0]
    assert "s3cr3t-value" not in client.get(url).content.decode()  # never shown again
    assert client.post(url, {**FORM, "ocr_languages": "eng"}).status_code == 302  # blank: kept
    with schema_context("alpha"):
        assert DocumentSettings.objects.get(pk=1).cloudinary_api_secret == "s3cr3t-value"
    bad = client.post(url, {**FORM, "ocr_languages": "eng; rm -rf /"})
    assert bad.status_code == 200 and "like eng+hin" in bad.content.decode()


def test_documents_list_and_read_again(alpha, db):
    with schema_context("alpha"):
        document = document_create_from_upload(upload=SimpleUploadedFile("a.pdf", text_pdf()))
        document_process(document_id=document.pk)
    client = tenant_client(alpha, login=True)
    page = client.get("/admin/documents/document/")
    assert page.status_code == 200 and f"Invoice #{document.pk}" in page.content.decode()
    assert client.get(f"/admin/documents/document/{document.pk}/change/").status_code == 200
    response = client.post(
        "/admin/documents/document/", {"action": "read_again", "_selected_action": [document.pk]}, follow=True
    )
    assert response.status_code == 200
    with schema_context("alpha"):
        assert Document.objects.get(pk=document.pk).status == "queued"
