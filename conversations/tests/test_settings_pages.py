"""Settings pages of part A (issue 11 §4): the shell, profile, bots, AI, website knowledge.

Pages are exercised through the tenant's own domain with Django's test client; services and
selectors directly. Outside services (the OpenAI-compatible endpoint, a website) are local
HTTP servers.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from tenants.services import owner_create
from tests.tenancy import tenant_client

AGENT_EMAIL = "agent@alpha.test"
AGENT_PASSWORD = "agent-password-1"


def _agent_client(alpha) -> Client:
    with schema_context(alpha.tenant.schema_name):
        owner_create(email=AGENT_EMAIL, password=AGENT_PASSWORD, is_owner=False)
    client = Client(HTTP_HOST=alpha.domain.domain)
    assert client.post("/login/", {"username": AGENT_EMAIL, "password": AGENT_PASSWORD}).status_code == 302
    return client


@pytest.mark.django_db
def test_settings_link_opens_the_profile(alpha):
    client = tenant_client(alpha, login=True)
    page = client.get("/").content.decode()
    assert 'href="/settings/"' in page
    response = client.get("/settings/")
    assert response.status_code == 302
    assert response["Location"] == "/settings/profile/"


@pytest.mark.django_db
def test_agent_gets_the_friendly_403_for_settings(alpha):
    client = _agent_client(alpha)
    response = client.get("/settings/")
    assert response.status_code == 403
    assert "Only owners can change settings" in response.content.decode()
    fragment = client.get("/settings/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 403
    assert "<html" not in fragment.content.decode()


def _profile_post(client, version: str, **overrides):
    data = {
        "version": version,
        "name": "Alpha Dental Care",
        "timezone": "Asia/Kolkata",
        "hours_enabled": "on",
        "away_message": "We are closed, back at 9.",
        "hours_0": "09:00-13:00, 14:00–18:00",
        "hours_1": "9-17",
        **{f"hours_{d}": "" for d in range(2, 7)},
    }
    data.update(overrides)
    return client.post("/settings/profile/", data, HTTP_HX_REQUEST="true")


def _profile_version(alpha) -> str:
    from conversations.settings_pages.selectors import business_profile_get

    with schema_context(alpha.tenant.schema_name):
        owner = _owner(alpha)
        return business_profile_get(user=owner).version


def _owner(alpha):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=alpha.owner_email)


@pytest.mark.django_db
def test_profile_saves_name_timezone_hours_and_away_message(alpha):
    from conversations.models import Bot, WorkingHours
    from tenants.models import Tenant
    from tenants.selectors import tenant_timezone_name

    client = tenant_client(alpha, login=True)
    page = client.get("/settings/profile/")
    assert page.status_code == 200
    assert 'aria-current="page"' in page.content.decode()
    response = _profile_post(client, _profile_version(alpha))
    assert response.status_code == 200, response.content.decode()
    assert "Saved." in response.content.decode()
    tenant = Tenant.objects.get(pk=alpha.tenant.pk)
    assert (tenant.name, tenant.timezone) == ("Alpha Dental Care", "Asia/Kolkata")
    assert tenant_timezone_name(schema_name=alpha.tenant.schema_name) == "Asia/Kolkata"
    with schema_context(alpha.tenant.schema_name):
        bot = Bot.objects.get(is_default=True)
        assert bot.working_hours_enabled and bot.away_message == "We are closed, back at 9."
        rows = [
            (r.weekday, f"{r.opens_at:%H:%M}", f"{r.closes_at:%H:%M}") for r in WorkingHours.objects.filter(bot=bot)
        ]
    assert rows == [(0, "09:00", "13:00"), (0, "14:00", "18:00"), (1, "09:00", "17:00")]
    assert "09:00–13:00, 14:00–18:00" in client.get("/settings/profile/").content.decode()


@pytest.mark.django_db
def test_profile_bad_fields_get_inline_messages_and_nothing_is_saved(alpha):
    from tenants.models import Tenant

    client = tenant_client(alpha, login=True)
    response = _profile_post(client, _profile_version(alpha), name=" ", timezone="Mars/Olympus", hours_2="25:00-26:00")
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="f-name-error"' in body and "Give the business a name." in body
    assert "is not a time zone name" in body
    assert 'id="f-hours-2-error"' in body and "not a time of day" in body
    assert Tenant.objects.get(pk=alpha.tenant.pk).name == alpha.tenant.name


@pytest.mark.django_db
def test_profile_stale_version_is_refused_not_overwritten(alpha):
    from tenants.models import Tenant

    first, second = tenant_client(alpha, login=True), tenant_client(alpha, login=True)
    opened = _profile_version(alpha)
    assert _profile_post(first, opened, name="Saved First").status_code == 200
    response = _profile_post(second, opened, name="Saved Second")
    assert response.status_code == 409
    assert "Changed by someone else since you opened it" in response.content.decode()
    assert Tenant.objects.get(pk=alpha.tenant.pk).name == "Saved First"


def test_hours_parse_reads_ranges_and_refuses_nonsense():
    from datetime import time

    from conversations.settings_pages.services import hours_parse

    assert hours_parse("") == []
    assert hours_parse("22:00-24:00, 00:00-02:00") == [(time(22), time(0)), (time(0), time(2))]
    assert hours_parse("9-24") == [(time(9), time(0))]
    assert hours_parse("0-24") == [(time(0), time(0))]  # the whole day
    with pytest.raises(ValueError, match="closes before it opens. Past midnight, end this day at 24:00"):
        hours_parse("22:00-02:00")
    with pytest.raises(ValueError, match="closes when it opens"):
        hours_parse("09:00-09:00")
    with pytest.raises(ValueError, match="not a time range"):
        hours_parse("morning")


def _ai_version(alpha) -> str:
    from conversations.settings_pages.selectors import ai_page_get

    with schema_context(alpha.tenant.schema_name):
        return ai_page_get(user=_owner(alpha)).version


def _ai_post(client, version: str, **overrides):
    data = {
        "version": version,
        "enabled": "on",
        "model": "test-model",
        "base_url": "",
        "api_key": "",
        "system_prompt": "Be brief.",
        "daily_token_budget": "50000",
        "per_contact_hourly_cap": "5",
    }
    data.update(overrides)
    return client.post("/settings/ai/", data, HTTP_HX_REQUEST="true")


@pytest.mark.django_db
def test_ai_key_is_write_only_masked_and_kept_when_blank(alpha):
    from conversations.ai.selectors import ai_settings_get

    client = tenant_client(alpha, login=True)
    response = _ai_post(client, _ai_version(alpha), api_key="sk-test-0123456789a1b2")
    assert response.status_code == 200, response.content.decode()
    body = response.content.decode()
    assert "sk-…a1b2" in body and "sk-test-0123456789a1b2" not in body
    response = _ai_post(client, _ai_version(alpha), api_key="", daily_token_budget="60000")
    assert response.status_code == 200
    with schema_context(alpha.tenant.schema_name):
        config = ai_settings_get()
        assert (str(config.api_key), config.daily_token_budget, config.per_contact_hourly_cap) == (
            "sk-test-0123456789a1b2",
            60000,
            5,
        )
    assert "sk-test-0123456789a1b2" not in client.get("/settings/ai/").content.decode()


@pytest.mark.django_db
def test_ai_bad_numbers_and_url_are_refused_inline(alpha):
    client = tenant_client(alpha, login=True)
    response = _ai_post(client, _ai_version(alpha), daily_token_budget="lots", per_contact_hourly_cap="-1")
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="f-budget-error"' in body and "whole number" in body
    assert 'id="f-cap-error"' in body and "cannot be negative" in body
    response = _ai_post(client, _ai_version(alpha), base_url="not a url")
    assert response.status_code == 422
    assert 'id="f-base-url-error"' in response.content.decode()


@pytest.mark.django_db
def test_ai_stale_form_is_refused(alpha):
    client = tenant_client(alpha, login=True)
    opened = _ai_version(alpha)
    assert _ai_post(client, opened, model="first-model").status_code == 200
    response = _ai_post(client, opened, model="second-model")
    assert response.status_code == 409
    assert "Changed by someone else" in response.content.decode()


@pytest.mark.django_db
def test_ai_test_box_shows_the_endpoints_answer_and_its_error(alpha, ai_server):
    client = tenant_client(alpha, login=True)
    assert _ai_post(client, _ai_version(alpha), base_url=ai_server.base_url).status_code == 200
    ai_server.reply("Yes, we open 10–14 on Sundays.")
    response = client.post("/settings/ai/test/", {"message": "Open on Sunday?"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Yes, we open 10–14 on Sundays." in response.content.decode()
    sent = ai_server.requests[-1]
    assert sent["model"] == "test-model"
    assert sent["messages"][0]["role"] == "system" and "Be brief." in sent["messages"][0]["content"]
    assert sent["messages"][-1] == {"role": "user", "content": "Open on Sunday?"}
    # Nothing scripted: the local server answers 500, and the page shows the provider's error.
    response = client.post("/settings/ai/test/", {"message": "Again?"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "The AI endpoint answered with an error" in response.content.decode()
    assert "HTTP 500" in response.content.decode()
    empty = client.post("/settings/ai/test/", {"message": " "}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422


SITE = {
    "/": "<html><head><title>Alpha Dental</title></head><body><main><h1>Alpha Dental</h1>"
    "<p>We clean, whiten and straighten teeth in Pune. Open Monday to Saturday, 9 to 6.</p>"
    '<p>See our <a href="/prices">prices</a>.</p></main></body></html>',
    "/prices": "<html><head><title>Prices</title></head><body><main><h1>Prices</h1>"
    "<p>A cleaning costs 1500 rupees and whitening costs 6000 rupees, payable by UPI or card.</p>"
    "</main></body></html>",
}


@pytest.fixture
def website(httpserver):
    for path, html in SITE.items():
        httpserver.expect_request(path).respond_with_data(html, content_type="text/html; charset=utf-8")
    return httpserver


@pytest.mark.django_db
def test_fetch_again_shows_progress_then_the_knowledge(alpha, website):
    from conversations.ai.knowledge import knowledge_fetch_run
    from conversations.models import KnowledgeFetchJob

    client = tenant_client(alpha, login=True)
    assert "Never fetched" in client.get("/settings/knowledge/").content.decode()
    response = client.post("/settings/knowledge/fetch/", {"url": website.url_for("/")}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'hx-trigger="every 1s"' in body and "Queued" in body
    with schema_context(alpha.tenant.schema_name):
        job = KnowledgeFetchJob.objects.get()
        knowledge_fetch_run(job_id=job.pk)
    poll = client.get(f"/settings/knowledge/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in poll and "Done" in poll
    assert "<strong>2</strong> pages read" in poll
    assert 'hx-swap-oob="true"' in poll and "1500 rupees" in poll
    page = client.get("/settings/knowledge/").content.decode()
    assert "Last fetched" in page and "# Knowledge" in page and "6000 rupees" in page


@pytest.mark.django_db
def test_fetch_again_refuses_a_bad_url_inline(alpha):
    client = tenant_client(alpha, login=True)
    response = client.post("/settings/knowledge/fetch/", {"url": "ftp://example.com"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert 'id="f-url-error"' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/settings/profile/", "/settings/ai/", "/settings/knowledge/"])
def test_agent_gets_403_for_every_page(alpha, path):
    client = _agent_client(alpha)
    assert client.get(path).status_code == 403
    assert client.post(path, {}).status_code == 403


@pytest.mark.django_db
def test_bots_create_edit_switch_schedule_and_numbers_with_audit(alpha):
    from conversations.models import Bot, BotAuditLog, BotPhoneNumber, BotSchedule
    from conversations.settings_pages.selectors import bot_version

    client = tenant_client(alpha, login=True)
    assert client.post("/settings/bots/new/", {"name": " "}).status_code == 422
    response = client.post("/settings/bots/new/", {"name": "Diwali offers"})
    assert response.status_code == 302
    with schema_context(alpha.tenant.schema_name):
        bot = Bot.objects.get(name="Diwali offers")
        opened = bot_version(bot)
    assert "Diwali offers" in client.get("/settings/bots/").content.decode()
    form = {"version": opened, "name": "Diwali bot", "system_prompt": "Offer 20% off.", "auto_response": "on"}
    response = client.post(f"/settings/bots/{bot.pk}/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content.decode()
    assert "Saved." in response.content.decode()
    stale = client.post(f"/settings/bots/{bot.pk}/", {**form, "name": "Other"}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409 and "Changed by someone else" in stale.content.decode()
    response = client.post(
        f"/settings/bots/{bot.pk}/numbers/", {"numbers": [alpha.phone_number.phone_number_id]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "Numbers saved." in response.content.decode()
    bad = client.post(f"/settings/bots/{bot.pk}/schedules/", {"enable_at": "soon"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422 and 'id="f-enable-at-error"' in bad.content.decode()
    response = client.post(
        f"/settings/bots/{bot.pk}/schedules/",
        {"disable_at": "2030-01-02T18:30", "note": "holiday"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 Jan 2030, 18:30" in body and "Schedule added" in body
    with schema_context(alpha.tenant.schema_name):
        bot.refresh_from_db()
        assert (bot.name, bot.system_prompt, bot.is_enabled, bot.ai_enabled) == (
            "Diwali bot",
            "Offer 20% off.",
            False,
            False,
        )
        assert BotPhoneNumber.objects.get(phone_number_id=alpha.phone_number.phone_number_id).bot_id == bot.pk
        schedule = BotSchedule.objects.get(bot=bot)
        assert schedule.disable_at.isoformat() == "2030-01-02T18:30:00+00:00"  # Alpha's zone is UTC
        actions = list(BotAuditLog.objects.filter(bot=bot).values_list("action", flat=True))
    assert {"created", "updated", "disabled", "scheduled"} <= set(actions)
    response = client.post(f"/settings/bots/{bot.pk}/numbers/", {}, HTTP_HX_REQUEST="true")
    with schema_context(alpha.tenant.schema_name):
        assert not BotPhoneNumber.objects.filter(bot=bot).exists()
    assert client.get("/settings/bots/999999/").status_code == 404
