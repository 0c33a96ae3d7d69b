"""The Documents pages in Chromium against the real stack: find a document, correct it, review it."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from documents.choices import DocumentStatus
from documents.models import Document
from documents.services import document_create_from_upload, document_process
from documents.tests.samples import Invoice, invoice_png, text_pdf
from tests.support import wait_for
from tests.tenancy import ALPHA, PASSWORDS

pytestmark = pytest.mark.worker


def login(page: Page, stack) -> None:
    page.goto(stack.url("alpha.test", "/login/"))
    page.get_by_label("Email").fill(ALPHA["owner_email"])
    page.get_by_label("Password").fill(PASSWORDS[ALPHA["owner_email"]])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()


def test_owner_finds_corrects_and_reviews_a_document(page: Page, stack, shoot):
    invoice = Invoice(number="INV-BROWSER-7", total="12,400.00", total_value="12400.00")
    created = []
    with schema_context("alpha"):
        for data, name in ((invoice_png(invoice), "photo.png"), (text_pdf(invoice), "bill.pdf")):
            document = document_create_from_upload(upload=SimpleUploadedFile(name, data))
            document_process(document_id=document.pk)
            created.append(document)

    def all_read() -> bool:
        # The stack's background worker may have claimed a document before document_process
        # did (its task is queued on commit): then it is the worker that finishes it.
        with schema_context("alpha"):
            return Document.objects.filter(pk__in=[d.pk for d in created], status=DocumentStatus.DONE).count() == 2

    wait_for(all_read, timeout=120, what="both documents read")
    try:
        login(page, stack)
        page.goto(stack.url("alpha.test", "/documents/"))
        expect(page.get_by_role("heading", name="Documents")).to_be_visible()
        card = page.get_by_role("link", name=f"Invoice #{created[0].pk}")
        expect(card).to_be_visible()
        expect(card).to_contain_text("12400.00")
        expect(card.locator("img")).to_be_visible()  # the thumbnail, through a signed link
        shoot(page, "documents-list")

        page.get_by_label("Search").fill("INV-BROWSER-7")
        page.get_by_label("Search").press("Enter")
        expect(page.get_by_role("link", name=f"Invoice #{created[1].pk}")).to_be_visible()

        card.click()
        expect(page.get_by_role("heading", name=f"Invoice #{created[0].pk}")).to_be_visible()
        expect(page.get_by_role("img", name="The document as the customer sent it")).to_be_visible()
        amount_input = page.get_by_label("New amount")
        amount_input.fill("12,500")
        amount_input.press("Enter")
        row = page.locator("tr", has=page.get_by_role("rowheader", name="Amount", exact=True))
        expect(row).to_contain_text("12500.00")
        expect(row).to_contain_text("read as 12400.00")
        page.get_by_label("New email").fill("not an email")
        page.get_by_label("New email").press("Enter")
        expect(page.get_by_role("alert")).to_contain_text("not an email")
        shoot(page, "documents-detail")
        page.get_by_role("button", name="Mark reviewed").click()
        expect(page.get_by_text("Reviewed by")).to_be_visible()
    finally:
        with schema_context("alpha"):
            for document in created:
                document.refresh_from_db()
                default_storage.delete(document.file.name)
                if document.thumbnail:
                    default_storage.delete(document.thumbnail.name)
        # Playwright's sync API keeps its own context, and Django's connections are per
        # context: close the one this test opened, or dropping the test database fails.
        connections.close_all()
