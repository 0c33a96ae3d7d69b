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
    assert hours_parse("22:00-02:00") == [(time(22), time(2))]
    assert hours_parse("9-24") == [(time(9), time(0))]
    with pytest.raises(ValueError, match="not a time range"):
        hours_parse("morning")
