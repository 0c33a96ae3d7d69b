"""Sign-up to a working inbox in Chromium (issue 11 §6), against the real stack.

The platform host is ``localhost`` and a new tenant's host ``<slug>.localhost``
(TENANT_BASE_DOMAIN's default): Chromium resolves every ``*.localhost`` name to loopback itself.
"""

from __future__ import annotations

import re
import secrets

import pytest
from django.db import connection, transaction
from playwright.sync_api import Page, expect

from tenants.models import Domain, OwnerSignup, Tenant
from tenants.signup.services import signup_template_ensure

LIVE = 15_000  # ms: an upper bound for the websocket to connect (a bound, not a measurement)
# ms: an upper bound for the sign-up POST on a loaded test machine (bench/signup.py measures it)
SIGNUP = 90_000


@pytest.fixture
def platform_host(stack):
    """``localhost`` routes to the platform (public) tenant for this test; the template schema
    exists, as after a deploy (``manage.py signup_template_ensure``)."""
    with transaction.atomic():
        signup_template_ensure()
    connection.set_schema_to_public()
    public = Tenant.objects.get(schema_name="public")
    row, created = Domain.objects.get_or_create(domain="localhost", defaults={"tenant": public, "is_primary": False})
    yield "localhost"
    if created:
        row.delete()


def test_signup_to_a_working_inbox(page: Page, stack, platform_host, shoot):
    slug = f"shop-{secrets.token_hex(3)}"
    email = f"{slug}@example.com"
    page.goto(stack.url(platform_host, "/signup/"))
    expect(page.get_by_role("heading", name="Create your workspace")).to_be_visible()
    shoot(page, "signup")

    # Bad input first: messages next to their fields, nothing created.
    page.get_by_label("Business name").fill("Admin")
    page.get_by_label("Your address").fill("admin")
    page.get_by_label("Your email").fill("not-an-email")
    page.get_by_label("Password").fill("password123")
    page.get_by_role("button", name="Create my workspace").click()
    expect(page.locator("#err_slug")).to_contain_text("reserved")
    expect(page.locator("#err_email")).to_contain_text("valid email")
    expect(page.locator("#err_password")).to_contain_text("too common")
    expect(page.get_by_label("Your address")).to_have_attribute("aria-invalid", "true")
    shoot(page, "signup-errors")

    page.get_by_label("Business name").fill("Asha's Bakery")
    page.get_by_label("Your address").fill(slug)
    page.get_by_label("Your email").fill(email)
    page.get_by_label("Password").fill("Sturdy-Mango-Ledger-42")
    page.get_by_role("button", name="Create my workspace").click()
    # The progress panel shows while the workspace is made.
    expect(page.get_by_text("Setting up your workspace…")).to_be_visible()

    expect(page).to_have_url(re.compile(rf"^http://{slug}\.localhost:\d+/welcome/$"), timeout=SIGNUP)
    expect(page.get_by_role("heading", name="Let’s get Asha's Bakery ready")).to_be_visible()
    checklist = page.get_by_role("list", name="Setup checklist")
    steps = ("Confirm your email", "Connect WhatsApp", "Build a menu flow", "Try the simulator", "Invite a teammate")
    for title in steps:
        expect(checklist.get_by_role("heading", name=title)).to_be_visible()
    expect(page.get_by_text("0 of 5 done")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Please confirm")).to_contain_text(email)
    expect(checklist.get_by_role("link", name=re.compile("Connect a number"))).to_have_attribute(
        "href", "/settings/numbers/"
    )
    shoot(page, "signup-checklist")
    assert OwnerSignup.objects.filter(email=email, tenant__schema_name=slug.replace("-", "_")).exists()

    page.get_by_role("link", name="Go to the inbox").click()
    expect(page).to_have_url(re.compile(rf"^http://{slug}\.localhost:\d+/$"))
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    # Working: the live websocket of the new tenant is connected.
    expect(page.locator("#inbox[data-live=connected]")).to_have_count(1, timeout=LIVE)
    shoot(page, "signup-inbox")
