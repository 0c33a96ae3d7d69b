"""Settings part B in Chromium (issue 11 §6): an API key is shown once; an invitation emailed
through SMTP is accepted and signs the teammate in as an agent; a number is connected against
the Graph sandbox (refused with Meta's reason, then accepted)."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from tests.browser.pages import login_owner
from tests.support import wait_for


def test_a_new_api_key_is_shown_once(page: Page, stack, shoot):
    login_owner(page, stack, "/settings/api-keys/")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    name = f"Booking site {secrets.token_hex(2)}"
    page.get_by_label("New key name").fill(name)
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-api-key")
    expect(secret).to_contain_text(re.compile(r"^bzm_[0-9a-f]{8}_"))
    raw = secret.inner_text().strip()
    expect(page.locator("#curl-example")).to_contain_text(f"X-Api-Key: {raw}")
    expect(page.get_by_role("button", name="Copy key")).to_be_visible()
    shoot(page, "settings-api-keys-created")
    page.reload()
    expect(page.get_by_role("list", name="API keys")).to_contain_text(name)
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    assert raw not in page.content()
    # Revoke, through the confirm step.
    row = page.get_by_role("listitem").filter(has_text=name)
    row.get_by_role("link", name="Revoke…").click()
    page.get_by_role("button", name=f"Revoke {name}").click()
    expect(page.get_by_role("listitem").filter(has_text=name)).to_contain_text("Revoked")
    shoot(page, "settings-api-keys")


def test_invite_accept_set_password_signed_in_as_agent(page: Page, stack, smtp_sink, browser, shoot):
    email = f"agent-{secrets.token_hex(3)}@alpha.test"
    login_owner(page, stack, "/settings/team/")
    page.get_by_label("Email").fill("not an email")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#invite-email-error")).to_contain_text("not an email address")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status").filter(has_text="Invitation sent")).to_contain_text(email)
    expect(page.get_by_role("list", name="Pending invitations")).to_contain_text(email)
    shoot(page, "settings-team")

    [mail] = wait_for(lambda: smtp_sink.to(email), timeout=15, what="the invitation email")
    link = re.search(r"http://alpha\.test:\d+/invitations/[^/\s]+/", mail["data"]).group()
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    newcomer = context.new_page()
    try:
        newcomer.goto(link)
        expect(newcomer.get_by_role("heading", name="Join Alpha Dental")).to_be_visible()
        newcomer.get_by_label("Password", exact=True).fill("short")
        newcomer.get_by_label("Password again").fill("short")
        newcomer.get_by_role("button", name="Set password and sign in").click()
        expect(newcomer.locator("#password-error")).to_be_visible()
        shoot(newcomer, "settings-invitation-accept")
        newcomer.get_by_label("Password", exact=True).fill("a-good-password-7")
        newcomer.get_by_label("Password again").fill("a-good-password-7")
        newcomer.get_by_role("button", name="Set password and sign in").click()
        expect(newcomer.get_by_role("heading", name="Inbox")).to_be_visible()
        # An agent: settings are refused with the friendly page.
        newcomer.goto(stack.url("alpha.test", "/settings/team/"))
        expect(newcomer.get_by_role("heading", name="Only owners can change settings")).to_be_visible()
        # The link works once.
        newcomer.goto(link)
        expect(newcomer.get_by_text("already used")).to_be_visible()
    finally:
        context.close()
    page.reload()
    expect(page.get_by_role("list", name="Team members")).to_contain_text(email)


def test_connect_a_number_against_the_sandbox(page: Page, stack, shoot):
    phone_number_id = f"1065{secrets.randbelow(10**11):011d}"
    stack.sandbox.register_number(phone_number_id, "good-token", display_phone_number="15550004242")
    login_owner(page, stack, "/settings/numbers/")
    expect(page.get_by_role("heading", name="WhatsApp numbers")).to_be_visible()
    page.get_by_label("Phone number id").fill(phone_number_id)
    page.get_by_label("WhatsApp Business Account id").fill("102290129340398")
    page.get_by_label("Access token").fill("a-token-meta-refuses")
    page.get_by_role("button", name="Verify and connect").click()
    expect(page.locator("#f-access_token-error")).to_contain_text("Meta refused it (error 190)")
    expect(page.get_by_label("Access token")).to_have_attribute("aria-invalid", "true")
    shoot(page, "settings-numbers-refused")
    page.get_by_label("Access token").fill("good-token")
    page.get_by_role("button", name="Verify and connect").click()
    expect(page.get_by_role("status").filter(has_text="Connected")).to_contain_text("+15550004242")
    numbers = page.get_by_role("list", name="Connected numbers")
    expect(numbers).to_contain_text(phone_number_id)
    expect(numbers).not_to_contain_text("good-token")
    row = numbers.get_by_role("listitem").filter(has_text=phone_number_id)
    expect(row).to_contain_text(re.compile(r"Meta says\s+Connected\s+· quality\s+High"))
    # Meta lowers the number's quality rating: "Check with Meta" shows it.
    stack.sandbox.register_number(phone_number_id, "good-token", quality_rating="YELLOW")
    row.get_by_role("button", name="Check +15550004242 with Meta").click()
    expect(page.get_by_role("status").filter(has_text="Checked")).to_contain_text("quality YELLOW")
    expect(numbers.get_by_role("listitem").filter(has_text=phone_number_id)).to_contain_text("quality Medium")
    shoot(page, "settings-numbers")
