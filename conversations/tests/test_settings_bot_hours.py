"""Working hours and away message per bot (issue 11): the bot's settings page edits its own
hours with the editor the business profile uses for the default bot (one partial, one
service), and the engine answers with that bot's away message outside them at once.

Services directly, pages through the tenant's own domain with Django's test client.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django_tenants.utils import schema_context

from bizmitra.errors import Conflict, ValidationFailed
from tenants.services import owner_create
from tests.tenancy import tenant_client

AGENT_EMAIL = "hours-agent@alpha.test"
AGENT_PASSWORD = "agent-password-2"
MONDAY = {0: "09:00-13:00, 14:00–18:00", **{d: "" for d in range(1, 7)}}
# Alpha's time zone is UTC; 2030-01-07 is a Monday.
MONDAY_OPEN = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
MONDAY_LUNCH = datetime(2030, 1, 7, 13, 30, tzinfo=UTC)
MONDAY_EVENING = datetime(2030, 1, 7, 20, 0, tzinfo=UTC)


def _owner(alpha):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=alpha.owner_email)


def _support(alpha):
    from conversations.settings_pages.services import bot_add

    return bot_add(user=_owner(alpha), name="Support")


def _version(alpha, bot) -> str:
    from conversations.settings_pages.selectors import bot_hours_get

    return bot_hours_get(user=_owner(alpha), bot=bot).version


def _save(alpha, bot, **overrides):
    from conversations.settings_pages.services import bot_hours_save

    values = {
        "version": _version(alpha, bot),
        "hours_enabled": True,
        "away_message": "Support is closed: back on Monday at 9.",
        "hours": MONDAY,
        **overrides,
    }
    return bot_hours_save(user=_owner(alpha), bot_id=bot.pk, **values)


def _rows(bot) -> list[tuple[int, str, str]]:
    from conversations.models import WorkingHours

    return [
        (r.weekday, f"{r.opens_at:%H:%M}", f"{r.closes_at:%H:%M}")
        for r in WorkingHours.objects.filter(bot=bot).order_by("weekday", "opens_at")
    ]


@pytest.mark.django_db
def test_a_second_bot_gets_its_own_hours_and_away_message(in_alpha, alpha):
    from conversations.engine.bots import bot_default_get
    from conversations.models import Bot, BotAuditLog

    default = bot_default_get()
    default_before = (default.away_message, default.working_hours_enabled, _rows(default))
    support = _support(alpha)

    saved = _save(alpha, support)

    support.refresh_from_db()
    assert support.working_hours_enabled and support.away_message == "Support is closed: back on Monday at 9."
    assert _rows(support) == [(0, "09:00", "13:00"), (0, "14:00", "18:00")]
    assert saved.hours[0] == "09:00–13:00, 14:00–18:00" and saved.version == _version(alpha, support)
    default = Bot.objects.get(pk=default.pk)
    assert (default.away_message, default.working_hours_enabled, _rows(default)) == default_before
    assert BotAuditLog.objects.filter(bot=support, detail="working hours and away message").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"hours": {**MONDAY, 2: "18:00-09:00"}}, "hours_2", "'18:00-09:00' closes before it opens"),
        ({"hours": {**MONDAY, 3: "morning"}}, "hours_3", "is not a time range such as 09:00–18:00"),
        ({"hours": {**MONDAY, 4: "25:00-26:00"}}, "hours_4", "is not a time of day"),
        ({"away_message": "x" * 4097}, "away_message", "At most 4096 characters"),
        ({"away_message": " "}, "away_message", "Customers who write outside your hours get this message"),
    ],
    ids=["closes-before-opens", "not-a-range", "not-a-time", "away-too-long", "away-empty"],
)
def test_bad_hours_are_refused_field_by_field_and_nothing_is_written(in_alpha, alpha, overrides, field, message):
    support = _support(alpha)
    before = (support.away_message, support.working_hours_enabled)
    with pytest.raises(ValidationFailed) as refused:
        _save(alpha, support, **overrides)
    assert list(refused.value.fields) == [field]
    assert message in refused.value.fields[field][0]
    support.refresh_from_db()
    assert (support.away_message, support.working_hours_enabled, _rows(support)) == (*before, [])


@pytest.mark.django_db
def test_a_stale_hours_form_is_refused_with_409_and_nothing_is_written(in_alpha, alpha):
    support = _support(alpha)
    opened = _version(alpha, support)
    _save(alpha, support, version=opened)
    with pytest.raises(Conflict) as refused:
        _save(alpha, support, version=opened, hours={**MONDAY, 0: "10:00-11:00"}, away_message="Other")
    assert refused.value.http_status == 409
    assert "Changed by someone else" in refused.value.message
    support.refresh_from_db()
    assert support.away_message == "Support is closed: back on Monday at 9."
    assert _rows(support) == [(0, "09:00", "13:00"), (0, "14:00", "18:00")]


@pytest.mark.django_db
def test_an_agent_cannot_save_or_read_a_bots_hours(in_alpha, alpha):
    from conversations.settings_pages.selectors import bot_hours_get
    from conversations.settings_pages.services import bot_hours_save

    support = _support(alpha)
    agent = owner_create(email=AGENT_EMAIL, password=AGENT_PASSWORD, is_owner=False)
    with pytest.raises(PermissionDenied):
        bot_hours_save(
            user=agent, bot_id=support.pk, version="", hours_enabled=True, away_message="Closed", hours=MONDAY
        )
    with pytest.raises(PermissionDenied):
        bot_hours_get(user=agent, bot=support)
    assert _rows(support) == []


@pytest.mark.django_db
def test_the_engine_answers_with_the_bots_away_message_outside_the_new_hours(in_alpha, alpha):
    from conversations.engine.bots import bot_for_phone_number
    from conversations.engine.hours import bot_closed_since
    from conversations.settings_pages.services import bot_numbers_set

    number = alpha.phone_number.phone_number_id
    support = _support(alpha)
    bot_numbers_set(user=_owner(alpha), bot_id=support.pk, phone_number_ids=[number])
    served = bot_for_phone_number(number)  # the process's snapshot, built before the save
    assert served.pk == support.pk and bot_closed_since(served, at=MONDAY_EVENING) is None

    _save(alpha, support)

    served = bot_for_phone_number(number)
    assert served.away_message == "Support is closed: back on Monday at 9."
    assert bot_closed_since(served, at=MONDAY_OPEN) is None
    assert bot_closed_since(served, at=MONDAY_LUNCH) == datetime(2030, 1, 7, 13, 0, tzinfo=UTC)
    assert bot_closed_since(served, at=MONDAY_EVENING) == datetime(2030, 1, 7, 18, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_stored_hours_past_midnight_are_shown_split_at_midnight(in_alpha, alpha):
    from conversations.models import WorkingHours
    from conversations.settings_pages.selectors import bot_hours_get

    support = _support(alpha)
    WorkingHours.objects.bulk_create(
        [
            WorkingHours(bot=support, weekday=6, opens_at=time(22), closes_at=time(2)),  # from the admin
            WorkingHours(bot=support, weekday=0, opens_at=time(9), closes_at=time(0)),
            WorkingHours(bot=support, weekday=2, opens_at=time(0), closes_at=time(0)),
        ]
    )
    hours = bot_hours_get(user=_owner(alpha), bot=support).hours
    assert (hours[0], hours[2], hours[6]) == ("00:00–02:00, 09:00–24:00", "00:00–24:00", "22:00–24:00")
    # What the editor shows saves again as the same schedule.
    _save(alpha, support, hours=hours)
    assert _rows(support) == [
        (0, "00:00", "02:00"),
        (0, "09:00", "00:00"),
        (2, "00:00", "00:00"),
        (6, "22:00", "00:00"),
    ]


def _post(client, bot, version: str, **overrides):
    data = {
        "hours_version": version,
        "hours_enabled": "on",
        "away_message": "Support is closed.",
        **{f"hours_{d}": text for d, text in MONDAY.items()},
        **overrides,
    }
    return client.post(f"/settings/bots/{bot.pk}/hours/", data, HTTP_HX_REQUEST="true")


@pytest.mark.django_db
def test_bot_page_saves_its_hours_shows_inline_errors_and_refuses_a_stale_form(alpha):
    client = tenant_client(alpha, login=True)
    with schema_context(alpha.tenant.schema_name):
        support = _support(alpha)
        opened = _version(alpha, support)
    page = client.get(f"/settings/bots/{support.pk}/").content.decode()
    assert 'id="hours-title"' in page and f'action="/settings/bots/{support.pk}/hours/"' in page

    bad = _post(client, support, opened, hours_1="17:00-09:00")
    assert bad.status_code == 422
    body = bad.content.decode()
    assert 'id="f-hours-1-error"' in body and "closes before it opens" in body
    assert 'value="17:00-09:00"' in body  # what was typed stays

    saved = _post(client, support, opened)
    assert saved.status_code == 200, saved.content.decode()
    assert "Saved." in saved.content.decode()
    page = client.get(f"/settings/bots/{support.pk}/").content.decode()
    assert 'value="09:00–13:00, 14:00–18:00"' in page and "Support is closed." in page

    stale = _post(client, support, opened, away_message="Overwritten")
    assert stale.status_code == 409 and "Changed by someone else" in stale.content.decode()
    with schema_context(alpha.tenant.schema_name):
        support.refresh_from_db()
        assert support.away_message == "Support is closed."


@pytest.mark.django_db
def test_profile_names_the_default_bot_and_links_the_others(alpha):
    client = tenant_client(alpha, login=True)
    with schema_context(alpha.tenant.schema_name):
        support = _support(alpha)
    page = client.get("/settings/profile/").content.decode()
    assert "Hours of the default bot" in page
    assert f'<a href="/settings/bots/{support.pk}/">Support</a>' in page


@pytest.mark.django_db
def test_agent_gets_the_friendly_403_for_a_bots_hours(alpha):
    with schema_context(alpha.tenant.schema_name):
        support = _support(alpha)
        owner_create(email=AGENT_EMAIL, password=AGENT_PASSWORD, is_owner=False)
    client = Client(HTTP_HOST=alpha.domain.domain)
    assert client.post("/login/", {"username": AGENT_EMAIL, "password": AGENT_PASSWORD}).status_code == 302
    response = _post(client, support, "")
    assert response.status_code == 403
    assert "Only owners can change settings" in response.content.decode()
    with schema_context(alpha.tenant.schema_name):
        assert _rows(support) == []
