"""Working hours of a second bot in Chromium (issue 11): the owner opens the bot's page from the
bot list, is told inline that a range closes before it opens, saves the bot's hours and away
message, and finds them after a reload; the profile page says whose hours it edits and links
to this bot. Screenshots of the bot page at 390 px and 1440 px in
var/test-artifacts/settings-bot-hours*.png (and of the profile's note, settings-profile-bots-*).
"""

from __future__ import annotations

import re
import secrets

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from tests.browser.pages import login_owner


@pytest.fixture
def second_bot(stack):
    """A second bot of Alpha ("Support …", serving no number), deleted afterwards: other
    browser tests share Alpha."""
    from conversations.engine.bots import bot_create
    from conversations.models import Bot

    with schema_context("alpha"):
        bot = bot_create(name=f"Support {secrets.token_hex(2)}")
    yield bot
    with schema_context("alpha"):
        Bot.objects.filter(pk=bot.pk).delete()


def test_owner_sets_a_second_bots_hours_and_sees_them_after_a_reload(page: Page, stack, shoot, second_bot):
    from conversations.engine.bots import bot_default_get
    from conversations.models import Bot

    with schema_context("alpha"):
        default = bot_default_get()
        default_before = (default.away_message, default.working_hours_enabled, list(default.working_hours.all()))

    login_owner(page, stack, "/settings/bots/")
    page.get_by_role("link", name=re.compile(re.escape(second_bot.name))).click()
    expect(page.get_by_role("heading", name=second_bot.name, exact=True)).to_be_visible()
    hours = page.get_by_role("region", name="Working hours")
    expect(hours).to_contain_text("in UTC")  # Alpha's zone: the bot keeps none of its own

    hours.get_by_label("Use working hours").check()
    hours.get_by_label("Monday").fill("09:00-13:00, 14:00-18:00")
    hours.get_by_label("Tuesday").fill("18:00-09:00")
    hours.get_by_label("Away message").fill("Support is closed now: we answer from 9:00 on weekdays.")
    hours.get_by_role("button", name="Save hours").click()
    expect(page.locator("#f-hours-1-error")).to_contain_text("closes before it opens")
    expect(hours.get_by_label("Tuesday")).to_have_attribute("aria-invalid", "true")
    expect(hours.get_by_label("Tuesday")).to_have_value("18:00-09:00")
    shoot(page, "settings-bot-hours-errors", at=hours)

    hours.get_by_label("Tuesday").fill("9-17")
    hours.get_by_role("button", name="Save hours").click()
    expect(hours.get_by_role("status")).to_have_text("Saved.")
    page.reload()
    hours = page.get_by_role("region", name="Working hours")
    expect(hours.get_by_label("Use working hours")).to_be_checked()
    expect(hours.get_by_label("Monday")).to_have_value("09:00–13:00, 14:00–18:00")
    expect(hours.get_by_label("Tuesday")).to_have_value("09:00–17:00")
    expect(hours.get_by_label("Wednesday")).to_have_value("")
    expect(hours.get_by_label("Away message")).to_have_value("Support is closed now: we answer from 9:00 on weekdays.")
    expect(page.get_by_role("region", name="Audit trail")).to_contain_text("working hours and away message")
    shoot(page, "settings-bot-hours", at=hours)

    with schema_context("alpha"):
        bot = Bot.objects.get(pk=second_bot.pk)
        rows = [(h.weekday, f"{h.opens_at:%H:%M}", f"{h.closes_at:%H:%M}") for h in bot.working_hours.all()]
        default = Bot.objects.get(pk=default.pk)
        assert (default.away_message, default.working_hours_enabled, list(default.working_hours.all())) == (
            default_before
        )
    assert bot.working_hours_enabled
    assert sorted(rows) == [(0, "09:00", "13:00"), (0, "14:00", "18:00"), (1, "09:00", "17:00")]

    # The profile edits the default bot's hours, says so, and links to this bot's page.
    page.goto(stack.url("alpha.test", "/settings/profile/"))
    profile_hours = page.get_by_role("region", name="Working hours")
    expect(profile_hours).to_contain_text("Hours of the default bot")
    shoot(page, "settings-profile-bots", at=profile_hours)
    profile_hours.get_by_role("link", name=second_bot.name).click()
    expect(page.get_by_role("heading", name=second_bot.name, exact=True)).to_be_visible()
