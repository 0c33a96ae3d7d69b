"""The bot admin audits schedules added, changed or removed through its inline, like the API does."""

import pytest
from django_tenants.utils import schema_context

from conversations.models import Bot, BotAuditLog, BotSchedule
from tests.tenancy import ALPHA, tenant_client

pytestmark = pytest.mark.django_db


def management(prefix: str, total: int, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def bot_form(name: str, **extra) -> dict:
    return {
        "name": name,
        "auto_response": "on",
        "timezone": "Asia/Kolkata",
        "away_message": "Back soon",
        "system_prompt": "",
        **management("phone_numbers", 0),
        **management("working_hours", 0),
        **management("handoff_settings", 0),
        **management("audit_log", 0),
        **extra,
    }


def test_a_schedule_added_in_the_bot_admin_is_audited(alpha):
    client = tenant_client(alpha, login=True)
    data = bot_form(
        "Festival desk",
        **management("schedules", 1),
        **{
            "schedules-0-disable_at_0": "2030-01-01",
            "schedules-0-disable_at_1": "09:00:00",
            "schedules-0-note": "closed for the festival",
        },
    )
    response = client.post("/admin/conversations/bot/add/", data)
    assert response.status_code == 302, response.content[-3000:]

    with schema_context(alpha.tenant.schema_name):
        bot = Bot.objects.get(name="Festival desk")
        schedule = BotSchedule.objects.get(bot=bot)
        rows = list(BotAuditLog.objects.filter(bot=bot).order_by("at", "id"))
    assert schedule.created_by.email == ALPHA["owner_email"]
    assert [(r.action, r.actor_label) for r in rows] == [
        (BotAuditLog.Action.CREATED, ALPHA["owner_email"]),
        (BotAuditLog.Action.SCHEDULED, ALPHA["owner_email"]),
    ]
    assert rows[1].detail == str(schedule) and "disable 2030-01-01" in rows[1].detail

    # Removing it through the inline is recorded too.
    data = bot_form(
        "Festival desk",
        **management("schedules", 1, initial=1),
        **{
            "schedules-0-id": str(schedule.pk),
            "schedules-0-bot": str(bot.pk),
            "schedules-0-disable_at_0": "2030-01-01",
            "schedules-0-disable_at_1": "09:00:00",
            "schedules-0-note": "closed for the festival",
            "schedules-0-DELETE": "on",
        },
    )
    response = client.post(f"/admin/conversations/bot/{bot.pk}/change/", data)
    assert response.status_code == 302, response.content[-3000:]
    with schema_context(alpha.tenant.schema_name):
        assert not BotSchedule.objects.filter(bot=bot).exists()
        last = BotAuditLog.objects.filter(bot=bot).order_by("-at", "-id").first()
    assert (last.action, last.actor_label) == (BotAuditLog.Action.UPDATED, ALPHA["owner_email"])
    assert last.detail.startswith("schedule removed: ")
