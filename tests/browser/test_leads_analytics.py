"""The leads board and analytics pages in Chromium against the real stack (tests/browser/conftest.py).

Located by role and visible text, as a person would; every wait is for a condition on the page.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from leads.choices import LeadSource, LeadStage
from leads.models import Lead
from leads.services import lead_create
from leads.tests.factories import unique_mobile
from tests.tenancy import ALPHA, PASSWORDS

pytestmark = [pytest.mark.worker]

XSS = "<img src=x onerror=alert(1)>"


def login(page: Page, stack, path: str) -> None:
    page.goto(stack.url("alpha.test", "/login/"))
    page.get_by_label("Email").fill(ALPHA["owner_email"])
    page.get_by_label("Password").fill(PASSWORDS[ALPHA["owner_email"]])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    page.goto(stack.url("alpha.test", path))


def new_lead(name: str, **fields) -> Lead:
    with schema_context("alpha"):
        return lead_create(
            source=LeadSource.MANUAL, actor="test", fields={"name": name, "phone": unique_mobile(), **fields}
        )


def stage_of(lead: Lead) -> str:
    with schema_context("alpha"):
        return Lead.objects.get(pk=lead.pk).stage


@pytest.fixture
def dialogs(page: Page):
    opened: list[str] = []
    page.on("dialog", lambda d: (opened.append(d.message), d.dismiss()))
    return opened


def column(page: Page, label: str):
    return page.get_by_role("region", name=label, exact=True)


def test_drag_a_lead_to_an_allowed_and_a_refused_stage(page: Page, stack, shoot, dialogs):
    tag = uuid.uuid4().hex[:6]
    mover = new_lead(f"Drag {tag}", product_interest="")
    new_lead(f"{XSS} {tag}", product_interest="Aligners")  # complete: qualified by itself
    login(page, stack, f"/leads/?search={tag}")
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    card = column(page, "New").get_by_role("listitem").filter(has_text=f"Drag {tag}")
    expect(card).to_be_visible()
    expect(column(page, "Qualified").get_by_role("listitem").filter(has_text=tag)).to_have_count(1)
    shoot(page, "leads-board")

    card.drag_to(column(page, "Contacted"))
    expect(page.locator("#toasts")).to_contain_text(f"Drag {tag} moved to Contacted")
    expect(column(page, "Contacted").get_by_role("listitem").filter(has_text=f"Drag {tag}")).to_be_visible()
    expect(column(page, "Contacted").locator(".board__count")).to_have_text("1")
    assert stage_of(mover) == LeadStage.CONTACTED

    moved = column(page, "Contacted").get_by_role("listitem").filter(has_text=f"Drag {tag}")
    moved.drag_to(column(page, "Paid"))
    expect(page.locator("#toasts")).to_contain_text("cannot move to 'paid'")
    expect(page.locator("#toasts")).to_contain_text("Allowed next stages: qualified, lost")
    # Snapped back: still in Contacted, nothing in Paid.
    expect(column(page, "Contacted").get_by_role("listitem").filter(has_text=f"Drag {tag}")).to_be_visible()
    expect(column(page, "Paid").get_by_role("listitem").filter(has_text=tag)).to_have_count(0)
    assert stage_of(mover) == LeadStage.CONTACTED
    assert dialogs == []


def test_move_by_keyboard_menu_and_lost_needs_a_reason(page: Page, stack, shoot):
    tag = uuid.uuid4().hex[:6]
    lead = new_lead(f"Menu {tag}")
    login(page, stack, f"/leads/?search={tag}")
    card = column(page, "New").get_by_role("listitem").filter(has_text=f"Menu {tag}")
    menu = card.get_by_text("Move", exact=True)
    menu.focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Qualified").focus()
    page.keyboard.press("Enter")
    expect(column(page, "Qualified").get_by_role("listitem").filter(has_text=f"Menu {tag}")).to_be_visible()
    assert stage_of(lead) == LeadStage.QUALIFIED

    card = column(page, "Qualified").get_by_role("listitem").filter(has_text=f"Menu {tag}")
    card.get_by_text("Move", exact=True).click()
    card.get_by_role("button", name="Lost").click()
    dialog = page.get_by_role("dialog", name="Why was this lead lost?")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("Chose a competitor")
    shoot(page, "leads-lost-dialog")
    dialog.get_by_role("button", name="Mark lost").click()
    expect(column(page, "Lost").get_by_role("listitem").filter(has_text=f"Menu {tag}")).to_be_visible()
    assert stage_of(lead) == LeadStage.LOST


def test_lead_page_inline_errors_and_save(page: Page, stack, shoot, dialogs):
    tag = uuid.uuid4().hex[:6]
    lead = new_lead(f"{XSS} Page {tag}", notes=XSS)
    login(page, stack, f"/leads/{lead.pk}/")
    expect(page.get_by_role("heading", name=re.compile(f"Page {tag}"))).to_be_visible()
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("is not a valid email address")).to_be_visible()
    shoot(page, "lead-page-error")
    page.get_by_label("Email").fill("asha@example.com")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#toasts")).to_contain_text("Lead saved.")
    with schema_context("alpha"):
        assert Lead.objects.get(pk=lead.pk).email == "asha@example.com"
    shoot(page, "lead-page")
    assert dialogs == []
