"""Documents end to end inside one process: upload → reading → fields, failures, corrections, lead fill."""

import uuid

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from bizmitra.errors import ValidationFailed
from documents.choices import DocumentStatus
from documents.models import Document
from documents.services import (
    acknowledgement_text,
    document_best_values,
    document_create_from_upload,
    document_field_correct,
    document_process,
    document_reprocess,
    document_settings_get,
)
from documents.tests.samples import CORRUPT_PNG, Invoice, encrypted_pdf, invoice_png, text_pdf


def upload(data: bytes, name: str = "invoice.png", **kwargs) -> Document:
    return document_create_from_upload(upload=SimpleUploadedFile(name, data), **kwargs)


def processed(document: Document) -> Document:
    assert document_process(document_id=document.pk) is True
    document.refresh_from_db()
    return document


def test_an_uploaded_invoice_is_read_into_fields(in_alpha):
    invoice = Invoice()
    document = processed(upload(invoice_png(invoice)))
    assert document.status == DocumentStatus.DONE and document.failure_reason == ""
    assert (document.kind, document.validation) == ("invoice", "valid")
    assert document.mime_type == "image/png" and document.file.name.startswith("tenants/alpha/documents/")
    assert document.pages == [
        {"number": 1, "method": "ocr", "chars": len(document.text), "confidence": document.pages[0]["confidence"]}
    ]
    assert (document.pages_total, document.pages_done) == (1, 1)
    best = document_best_values(document)
    assert best["invoice_number"] == invoice.number
    assert best["amount"] == invoice.total_value
    assert best["date"] == invoice.iso_day
    assert best["gstin"] == invoice.gstin
    assert best["email"] == invoice.email
    assert document.thumbnail.name.startswith("tenants/alpha/documents/thumbs/")
    assert document_process(document_id=document.pk) is False  # done: a redelivered task does nothing


def test_a_multi_page_pdf_reports_its_pages(in_alpha):
    document = processed(upload(text_pdf(pages=3), "bill.pdf"))
    assert (document.pages_total, document.pages_done) == (3, 3)
    assert [p["method"] for p in document.pages] == ["text_layer"] * 3


def test_aadhaar_numbers_are_stored_masked(in_alpha):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    for line in ("GOVERNMENT OF INDIA", "Name: Asha Rao", "Aadhaar No: 2345 6789 0124", "VID: 2345 6789 0124"):
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    document = processed(upload(bytes(pdf.output()), "aadhaar.pdf"))
    assert document.kind == "id"
    assert "XXXX XXXX 0124" in document.text
    assert "2345" not in document.text and "6789" not in document.text
    assert not document.fields.filter(value__contains="6789").exists()
    assert not document.fields.filter(snippet__contains="6789").exists()


@pytest.mark.parametrize(
    "data,name,reason",
    [
        (encrypted_pdf(), "locked.pdf", "the PDF is password-protected"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "broken.pdf", "the PDF is corrupt"),
    ],
)
def test_unreadable_files_fail_with_a_reason_and_are_kept(in_alpha, data, name, reason):
    document = processed(upload(data, name))
    assert document.status == DocumentStatus.FAILED
    assert document.failure_reason.startswith(reason)
    assert default_storage.open(document.file.name).read() == data  # the original is kept


def test_a_corrupt_image_fails_with_a_reason(in_alpha):
    document = processed(upload(CORRUPT_PNG, "photo.png"))
    assert document.status == DocumentStatus.FAILED
    assert "corrupt" in document.failure_reason


def test_too_many_pages_fail_with_the_limit_named(in_alpha, settings):
    settings.DOCUMENTS_MAX_PAGES = 2
    document = processed(upload(text_pdf(pages=3), "long.pdf"))
    assert document.failure_reason == "the PDF has 3 pages; at most 2 are read"


def test_too_many_pixels_fail_with_the_limit_named(in_alpha, settings):
    settings.DOCUMENTS_MAX_PIXELS = 500_000
    document = processed(upload(invoice_png(), "big.png"))
    assert document.failure_reason == "the image has more than 500,000 pixels"


def test_a_missing_language_pack_fails_with_the_install_hint(in_alpha):
    config = document_settings_get()
    config.ocr_languages = "eng+tam"
    config.save()
    document = processed(upload(invoice_png()))
    assert document.failure_reason.startswith("the OCR language(s) tam are not installed")
    assert "tesseract-ocr" in document.failure_reason


@pytest.mark.parametrize(
    "data,name", [(b"PK\x03\x04" + b"\x00" * 40, "x.zip"), (b"just text", "a.txt"), (b"", "e.png")]
)
def test_uploads_of_other_types_are_refused(in_alpha, data, name):
    with pytest.raises(ValidationFailed):
        upload(data, name)


def test_uploads_over_the_cap_are_refused(in_alpha, settings):
    settings.DOCUMENTS_UPLOAD_MAX_BYTES = 1000
    with pytest.raises(ValidationFailed, match="larger than"):
        upload(invoice_png())


def test_reprocess_reads_a_failed_document_again(in_alpha):
    document = processed(upload(invoice_png()))
    config = document_settings_get()
    config.ocr_languages = "eng"
    config.save()
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.FAILED, failure_reason="x")
    document_reprocess(document=document)
    assert document.status == DocumentStatus.QUEUED
    document = processed(document)
    assert document.status == DocumentStatus.DONE and document.attempts == 2


def test_a_correction_keeps_the_machine_value_and_who_changed_it(in_alpha, alpha):
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.get(email=alpha.owner_email)
    document = processed(upload(invoice_png()))
    field = document_field_correct(document=document, name="amount", value="1,26,000", user=owner)
    assert (field.value, field.original_value, field.corrected_by) == ("126000.00", "125000.00", owner)
    field = document_field_correct(document=document, name="amount", value="127000", user=owner)
    assert field.original_value == "125000.00"  # still what was read, not the first correction
    assert document_best_values(document)["amount"] == "127000.00"
    with pytest.raises(ValidationFailed, match="not a valid GSTIN"):
        document_field_correct(document=document, name="gstin", value="27AAPFU0939F1ZW", user=owner)
    with pytest.raises(ValidationFailed, match="not a field"):
        document_field_correct(document=document, name="text", value="x", user=owner)


def test_acknowledgement_text():
    config_default = Document._meta.apps.get_model("documents", "DocumentSettings")().acknowledgement
    text = acknowledgement_text(
        template=config_default, kind="invoice", amount="12400.00", currency="INR", day="2026-12-03"
    )
    assert text.startswith("Thanks, we received your invoice of ₹12,400 dated 3 Dec.")
    assert acknowledgement_text(template="Got {kind}{amount}", kind="receipt", amount="125000.50", currency="INR") == (
        "Got receipt of ₹1,25,000.50"
    )
    assert acknowledgement_text(template="{broken", kind="other").startswith("Thanks, we received your document")


def test_extracted_contact_details_fill_the_lead_when_turned_on(in_alpha, django_capture_on_commit_callbacks):
    from conversations.models import Contact
    from leads.models import Lead

    contact = Contact.objects.create(wa_id=f"9198{uuid.uuid4().int % 10**8:08d}")
    config = document_settings_get()
    config.fill_lead = True
    config.save()
    document = upload(invoice_png(), contact_id=contact.pk)  # its enqueue is dropped with the test's transaction
    with django_capture_on_commit_callbacks(execute=True):
        document_process(document_id=document.pk)
    lead = Lead.objects.get(contact=contact)
    assert lead.email == Invoice().email
    assert lead.name == Invoice().customer


def test_lead_is_left_alone_when_filling_is_off(in_alpha, django_capture_on_commit_callbacks):
    from conversations.models import Contact
    from leads.models import Lead

    contact = Contact.objects.create(wa_id=f"9198{uuid.uuid4().int % 10**8:08d}")
    document = upload(invoice_png(), contact_id=contact.pk)  # its enqueue is dropped with the test's transaction
    with django_capture_on_commit_callbacks(execute=True):
        document_process(document_id=document.pk)
    assert not Lead.objects.filter(contact=contact).exists()


def test_a_document_stuck_in_processing_can_be_read_again_only_once_stale(in_alpha):
    from datetime import timedelta

    from django.utils import timezone

    document = upload(invoice_png())
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PROCESSING, processing_started_at=timezone.now()
    )
    assert document_reprocess(document=document).status == DocumentStatus.PROCESSING  # a worker is on it
    Document.objects.filter(pk=document.pk).update(processing_started_at=timezone.now() - timedelta(hours=2))
    assert document_reprocess(document=document).status == DocumentStatus.QUEUED  # that worker died


def test_tesseract_runs_with_the_configured_thread_cap(in_alpha, settings, monkeypatch):
    import os

    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    settings.DOCUMENTS_OCR_THREADS = 2
    processed(upload(text_pdf(), "a.pdf"))
    assert os.environ["OMP_THREAD_LIMIT"] == "2"
