"""Settings pages, part A (issue 11 §4) in Chromium against the real stack (tests/browser/conftest.py).

An agent cannot open settings; an owner edits the profile and sees it saved; a stale form of
a second owner is refused; fetch again shows progress (the worker crawls a local website) and
finishes; the AI test box shows the local OpenAI-compatible server's answer. Screenshots of
each page at 390 px and 1440 px in var/test-artifacts/settings-*.png.
"""

from __future__ import annotations

import time
import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect
from werkzeug import Response

from tests.browser.pages import login, login_owner

pytestmark = [pytest.mark.worker]


@pytest.fixture
def alpha_restored(stack):
    """Alpha's name, time zone, hours and AI settings as they were: other browser tests share it."""
    from conversations.ai.selectors import ai_settings_get
    from conversations.ai.services import ai_settings_update
    from conversations.engine.bots import bot_default_get
    from tenants.models import Tenant

    tenant = Tenant.objects.get(schema_name="alpha")
    with schema_context("alpha"):
        bot = bot_default_get()
        hours = list(bot.working_hours.values("weekday", "opens_at", "closes_at"))
        before_bot = (bot.away_message, bot.working_hours_enabled)
        config = ai_settings_get()
        before_ai = {
            "model": config.model,
            "base_url": config.base_url,
            "api_key": str(config.api_key or ""),
            "enabled": config.enabled,
            "daily_token_budget": config.daily_token_budget,
            "per_contact_hourly_cap": config.per_contact_hourly_cap,
            "system_prompt": config.system_prompt,
            "knowledge": config.knowledge,
        }
    yield tenant
    Tenant.objects.filter(pk=tenant.pk).update(name=tenant.name, timezone=tenant.timezone)
    with schema_context("alpha"):
        from conversations.models import Bot, WorkingHours

        Bot.objects.filter(pk=bot.pk).update(away_message=before_bot[0], working_hours_enabled=before_bot[1])
        WorkingHours.objects.filter(bot_id=bot.pk).delete()
        WorkingHours.objects.bulk_create(WorkingHours(bot_id=bot.pk, **row) for row in hours)
        ai_settings_update(**before_ai)


def test_an_agent_cannot_open_settings(page: Page, stack, shoot):
    from tenants.services import owner_create

    email = f"agent-{uuid.uuid4().hex[:6]}@alpha.test"
    with schema_context("alpha"):
        owner_create(email=email, password="agent-password-9", is_owner=False)
    login(page, stack, email, "agent-password-9", "/settings/profile/")
    expect(page.get_by_role("heading", name="Only owners can change settings")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings")).to_have_count(0)
    for path in ("/settings/", "/settings/ai/", "/settings/knowledge/"):
        response = page.goto(stack.url("alpha.test", path))
        assert response.status == 403
    shoot(page, "settings-forbidden")


def test_owner_edits_the_profile_and_a_stale_form_is_refused(page: Page, stack, shoot, browser, alpha_restored):
    from tenants.models import Tenant

    login_owner(page, stack, "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Business profile")).to_be_visible()
    expect(page.get_by_role("link", name="Business profile")).to_have_attribute("aria-current", "page")
    shoot(page, "settings-profile")

    # A second owner (another browser context) opens the same form before the first saves.
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    second = other.new_page()
    login_owner(second, stack, "/settings/profile/")
    expect(second.get_by_label("Business name")).to_have_value(alpha_restored.name)

    page.get_by_label("Business name").fill("Alpha Dental Studio")
    page.get_by_label("Time zone").select_option("Asia/Kolkata")
    page.get_by_label("Monday").fill("09:00-13:00, 14:00-18:00")
    page.get_by_label("Tuesday").fill("25:00-26:00")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#f-hours-1-error")).to_contain_text("not a time of day")
    expect(page.get_by_label("Tuesday")).to_have_attribute("aria-invalid", "true")
    shoot(page, "settings-profile-errors")
    assert Tenant.objects.get(pk=alpha_restored.pk).name == alpha_restored.name

    page.get_by_label("Tuesday").fill("9-17")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator(".settings-card__foot [role=status]")).to_have_text("Saved.")
    page.reload()
    expect(page.get_by_label("Business name")).to_have_value("Alpha Dental Studio")
    expect(page.get_by_label("Monday")).to_have_value("09:00–13:00, 14:00–18:00")
    expect(page.get_by_label("Tuesday")).to_have_value("09:00–17:00")
    tenant = Tenant.objects.get(pk=alpha_restored.pk)
    assert (tenant.name, tenant.timezone) == ("Alpha Dental Studio", "Asia/Kolkata")

    second.get_by_label("Business name").fill("Alpha Overwritten")
    second.get_by_role("button", name="Save profile").click()
    expect(second.get_by_role("alert")).to_contain_text("Changed by someone else since you opened it")
    shoot(second, "settings-profile-stale")
    other.close()
    assert Tenant.objects.get(pk=alpha_restored.pk).name == "Alpha Dental Studio"


@pytest.fixture
def website(httpserver):
    """A small site: the home page links to two pages, the second answers slowly so the
    crawl is seen half-way."""
    home = (
        "<html><head><title>Alpha Dental</title></head><body><main><h1>Alpha Dental, Pune</h1>"
        "<p>Family dentistry since 1998: cleaning, whitening, braces and implants, Monday to Saturday.</p>"
        '<p><a href="/prices">Prices</a> · <a href="/team">Our team</a></p></main></body></html>'
    )
    prices = (
        "<html><head><title>Prices</title></head><body><main><h1>Prices</h1>"
        "<p>A cleaning costs 1500 rupees; whitening 6000 rupees; payment by UPI or card.</p></main></body></html>"
    )
    team = (
        "<html><head><title>Team</title></head><body><main><h1>Our team</h1>"
        "<p>Dr. Mehta leads a team of four dentists and two hygienists.</p></main></body></html>"
    )

    def slow_team(request):
        time.sleep(2)  # the page's own slowness, so the half-way state is on screen for a moment
        return Response(team, content_type="text/html; charset=utf-8")

    httpserver.expect_request("/").respond_with_data(home, content_type="text/html; charset=utf-8")
    httpserver.expect_request("/prices").respond_with_data(prices, content_type="text/html; charset=utf-8")
    httpserver.expect_request("/team").respond_with_handler(slow_team)
    return httpserver


def test_fetch_again_shows_progress_and_finishes(page: Page, stack, shoot, website, alpha_restored):
    login_owner(page, stack, "/settings/knowledge/")
    expect(page.get_by_role("heading", name="Website knowledge")).to_be_visible()
    page.get_by_label("Website URL").fill(website.url_for("/"))
    page.get_by_role("button", name="Fetch again").click()
    bar = page.get_by_role("progressbar", name="Pages read")
    expect(bar).to_be_visible()
    expect(page.locator(".knowledge-job")).to_contain_text("Running", timeout=30_000)
    shoot(page, "settings-knowledge-running")
    expect(page.locator(".knowledge-job")).to_contain_text("Done", timeout=60_000)
    expect(page.get_by_test_id("job-figures")).to_contain_text("3 pages read")
    expect(page.get_by_test_id("job-figures")).to_contain_text("characters kept")
    preview = page.get_by_label("The AI assistant's instructions and knowledge")
    expect(preview).to_contain_text("1500 rupees")
    expect(preview).to_contain_text("Dr. Mehta")
    expect(page.locator("#knowledge-summary")).to_contain_text("Last fetched")
    shoot(page, "settings-knowledge")


def test_ai_test_box_shows_the_local_servers_answer(page: Page, stack, shoot, ai_server, alpha_restored):
    login_owner(page, stack, "/settings/ai/")
    expect(page.get_by_role("heading", name="AI assistant", exact=True)).to_be_visible()
    page.get_by_label("Model").fill("local-test-model")
    page.get_by_label("Base URL").fill(ai_server.base_url)
    page.get_by_label("API key").fill("sk-local-9f8e7d6c5b4a")
    page.get_by_role("button", name="Save AI settings").click()
    expect(page.locator(".settings-card__foot [role=status]")).to_have_text("Saved.")
    expect(page.get_by_test_id("key-mask")).to_have_text("sk-…5b4a")
    expect(page.get_by_label("API key")).to_have_value("")

    ai_server.reply("Yes! On Sundays we are open from 10:00 to 14:00.")
    page.get_by_label("Customer message").fill("Are you open on Sunday?")
    page.get_by_role("button", name="Send test").click()
    expect(page.locator("#ai-test-result")).to_contain_text("On Sundays we are open from 10:00 to 14:00.")
    assert ai_server.requests[-1]["model"] == "local-test-model"
    assert ai_server.headers[-1]["authorization"] == "Bearer sk-local-9f8e7d6c5b4a"
    shoot(page, "settings-ai")

    # Nothing scripted: the server answers 500 and the box shows the provider's error.
    page.get_by_role("button", name="Send test").click()
    expect(page.locator("#ai-test-result")).to_contain_text("HTTP 500")


def test_bots_and_templates_pages(page: Page, stack, shoot, alpha_restored):
    from conversations.models import Bot

    name = f"Offers {uuid.uuid4().hex[:4]}"
    login_owner(page, stack, "/settings/bots/")
    expect(page.get_by_role("heading", name="Bots", exact=True)).to_be_visible()
    page.get_by_label("Bot name").fill(name)
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    try:
        page.get_by_label("Prompt").fill("Mention the festive discount first.")
        page.get_by_label("Bot on").uncheck()
        page.get_by_role("button", name="Save bot").click()
        expect(page.locator("#bot-body .settings-card__foot [role=status]").first).to_have_text("Saved.")
        page.get_by_label("Switch on at").fill("2030-01-02T09:00")
        page.get_by_label("Note").fill("after the holidays")
        page.get_by_role("button", name="Add schedule").click()
        expect(page.locator(".settings-table")).to_contain_text("2 Jan 2030, 09:00")
        audit = page.get_by_role("region", name="Audit trail")
        expect(audit).to_contain_text("Schedule added")
        expect(audit).to_contain_text("Disabled")
        shoot(page, "settings-bot")
        page.goto(stack.url("alpha.test", "/settings/bots/"))
        expect(page.get_by_role("list", name="Bots")).to_contain_text(name)
        shoot(page, "settings-bots")
    finally:
        with schema_context("alpha"):
            Bot.objects.filter(name=name).delete()

    page.goto(stack.url("alpha.test", "/settings/templates/"))
    expect(page.get_by_role("heading", name="Templates", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sync from WhatsApp").click()
    expect(page.locator("#meta-templates")).to_contain_text("Synced:")
    expect(page.get_by_role("link", name="Open the flow builder")).to_be_visible()
    shoot(page, "settings-templates")
