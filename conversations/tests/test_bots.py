"""Bots: the default bot, numbers served by bots, switching on and off (now, via the API and
admin, and on a schedule) with an audit trail, and working hours with the away message."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from bizmitra.config_cache import config_changed
from bizmitra.errors import ValidationFailed
from conversations.engine.bots import (
    bot_for_phone_number,
    bot_phone_number_assign,
    bot_schedule_create,
    bot_schedules_apply,
)
from conversations.engine.hours import bot_closed_since, zone_for
from conversations.engine.tasks import bot_schedules_apply_task
from conversations.models import Bot, BotAuditLog, BotPhoneNumber, BotSchedule, EngineDecision, WorkingHours
from conversations.tests.engine_support import (
    Customer,
    Flows,
    body_of,
    bot_reset,
    default_bot,
    token,
)
from tenants.models import PhoneNumber
from tests.support import wait_for
from tests.tenancy import ALPHA, BETA, tenant_client

Path = EngineDecision.Path


@pytest.fixture
def flows(alpha, live_db):
    flows = Flows(alpha.tenant.schema_name)
    yield flows
    flows.cleanup()


@pytest.fixture
def bot(alpha, live_db):
    """Alpha's default bot, put back to "everything on, no hours" afterwards."""
    yield default_bot(alpha.tenant.schema_name)
    bot_reset(alpha.tenant.schema_name)


def audit(schema: str, bot: Bot) -> list[tuple[str, str]]:
    with schema_context(schema):
        rows = BotAuditLog.objects.filter(bot=bot).order_by("at", "id")
        return [(row.action, row.actor_label) for row in rows]


# --- which bot answers -------------------------------------------------------------------------


def test_a_tenant_without_bots_gets_one_default_bot_with_everything_on(in_alpha):
    Bot.objects.all().delete()

    first = bot_for_phone_number(ALPHA["phone_number_id"])
    again = bot_for_phone_number("another-number")

    assert first.pk == again.pk
    assert (first.is_default, first.is_enabled, first.auto_response, first.ai_enabled, first.lead_capture) == (
        True,
        True,
        True,
        True,
        True,
    )
    assert Bot.objects.count() == 1
    assert list(BotAuditLog.objects.values_list("action", "actor_label")) == [("created", "system")]


def test_a_number_is_served_by_one_bot_and_only_the_tenants_own_numbers(in_alpha):
    sales = Bot.objects.create(name="Sales")
    support = Bot.objects.create(name="Support")

    bot_phone_number_assign(bot=sales, phone_number_id=ALPHA["phone_number_id"])
    assert bot_for_phone_number(ALPHA["phone_number_id"]) == sales
    bot_phone_number_assign(bot=support, phone_number_id=ALPHA["phone_number_id"])
    assert bot_for_phone_number(ALPHA["phone_number_id"]) == support
    assert BotPhoneNumber.objects.filter(phone_number_id=ALPHA["phone_number_id"]).count() == 1

    with pytest.raises(ValidationFailed):
        bot_phone_number_assign(bot=sales, phone_number_id=BETA["phone_number_id"])


@pytest.mark.worker
def test_each_number_is_answered_by_its_own_bot(live_sandbox, alpha, bot, flows, live_db):
    word = token()
    flows.rule(word, flows.text(f"Day team here ({word})"))
    second_id = "1065" + str(int(datetime.now(UTC).timestamp() * 1000))[-11:]
    PhoneNumber.objects.create(
        tenant=alpha.tenant, phone_number_id=second_id, access_token=ALPHA["access_token"], waba_id=ALPHA["waba_id"]
    )
    live_sandbox.register_number(
        second_id, ALPHA["access_token"], waba_id=ALPHA["waba_id"], display_phone_number="1555"
    )
    try:
        with schema_context(alpha.tenant.schema_name):
            night = Bot.objects.create(name="Night desk", is_enabled=False)
            bot_phone_number_assign(bot=night, phone_number_id=second_id)
        day_customer = Customer(live_sandbox, alpha)
        night_customer = Customer(live_sandbox, alpha, phone_number_id=second_id)

        day, day_sent = day_customer.answer(day_customer.says(word))
        night_decision, night_sent = night_customer.answer(night_customer.says(word))

        assert [body_of(r) for r in day_sent] == [f"Day team here ({word})"]
        assert (night_decision.path, night_sent) == (Path.BOT_OFF, [])
        assert (day.bot_id, night_decision.bot_id) == (bot.pk, night.pk)
        assert "Night desk" in night_decision.reason
    finally:
        PhoneNumber.objects.filter(phone_number_id=second_id).delete()


# --- switching bots on and off -------------------------------------------------------------------


@pytest.mark.worker
def test_a_disabled_bot_answers_nothing_until_enabled_and_both_are_audited(live_sandbox, alpha, bot, flows):
    word = token()
    flows.rule(word, flows.text(f"At your service ({word})"))
    client = tenant_client(alpha, login=True)
    customer = Customer(live_sandbox, alpha)

    response = client.post(f"/api/bots/{bot.pk}/disable/")
    assert (response.status_code, response.json()["is_enabled"]) == (200, False)
    decision, sent = customer.answer(customer.says(word))
    assert (decision.path, sent) == (Path.BOT_OFF, [])

    response = client.post(f"/api/bots/{bot.pk}/enable/")
    assert (response.status_code, response.json()["is_enabled"]) == (200, True)
    decision, sent = customer.answer(customer.says(word))
    assert [body_of(r) for r in sent] == [f"At your service ({word})"]

    assert audit(alpha.tenant.schema_name, bot)[-2:] == [
        ("disabled", ALPHA["owner_email"]),
        ("enabled", ALPHA["owner_email"]),
    ]


@pytest.mark.worker
def test_auto_response_off_answers_nothing_but_stop_still_works(live_sandbox, alpha, bot):
    with schema_context(alpha.tenant.schema_name):
        Bot.objects.filter(pk=bot.pk).update(auto_response=False)
        config_changed()
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says("hello"))
    assert (decision.path, sent) == (Path.BOT_OFF, [])

    decision, (confirmation,) = customer.answer(customer.says("stop"))
    assert decision.path == Path.BUILTIN
    assert "unsubscribed" in body_of(confirmation)
    assert customer.contact().opted_out_at is not None


@pytest.mark.worker
def test_a_scheduled_disable_is_applied_by_the_beat_task_with_an_audit_row(live_sandbox, alpha, bot, flows):
    word = token()
    flows.rule(word, flows.text(f"Open for business ({word})"))
    client = tenant_client(alpha, login=True)
    due = timezone.now() - timedelta(seconds=1)
    later = timezone.now() + timedelta(days=1)
    response = client.post(
        f"/api/bots/{bot.pk}/schedules/",
        {"disable_at": due.isoformat(), "enable_at": later.isoformat(), "note": "holiday"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    schedule_id = response.json()["id"]

    bot_schedules_apply_task.delay()

    def disabled():
        with schema_context(alpha.tenant.schema_name):
            return not Bot.objects.get(pk=bot.pk).is_enabled

    wait_for(disabled, timeout=20, what="the scheduled disable")
    with schema_context(alpha.tenant.schema_name):
        schedule = BotSchedule.objects.get(pk=schedule_id)
        assert schedule.disable_applied_at is not None and schedule.enable_applied_at is None
        entry = BotAuditLog.objects.filter(bot=bot).order_by("-at", "-id").first()
    assert (entry.action, entry.actor_label) == ("disabled", "schedule")
    assert "holiday" in entry.detail and due.isoformat()[:19] in entry.detail
    assert ("scheduled", ALPHA["owner_email"]) in audit(alpha.tenant.schema_name, bot)

    customer = Customer(live_sandbox, alpha)
    decision, sent = customer.answer(customer.says(word))
    assert (decision.path, sent) == (Path.BOT_OFF, [])


def test_overdue_schedule_actions_apply_once_each_in_time_order(in_alpha):
    bot = Bot.objects.create(name="Campaign")
    now = timezone.now()
    bot_schedule_create(bot=bot, enable_at=now - timedelta(hours=2), disable_at=now - timedelta(hours=1))
    bot_schedule_create(bot=bot, enable_at=now + timedelta(hours=1))

    assert bot_schedules_apply(now=now) == 2
    assert bot_schedules_apply(now=now) == 0

    bot.refresh_from_db()
    assert bot.is_enabled is False  # the later action (disable) wins
    actions = list(BotAuditLog.objects.filter(bot=bot, actor_label="schedule").values_list("action", flat=True))
    assert sorted(actions) == ["disabled", "enabled"]


def test_a_schedule_needs_a_time_zone_aware_time(in_alpha):
    bot = Bot.objects.create(name="Campaign")
    with pytest.raises(ValidationFailed):
        bot_schedule_create(bot=bot)
    with pytest.raises(ValidationFailed):
        bot_schedule_create(bot=bot, disable_at=datetime(2030, 1, 1, 9, 0))


def test_the_bot_api_lists_and_refuses_what_it_cannot_do(live_db, alpha, bot):
    client = tenant_client(alpha, login=True)
    listed = client.get("/api/bots/").json()
    assert any(item["id"] == bot.pk and item["is_default"] for item in listed)
    assert client.get("/api/bots/999999/").status_code == 404
    assert client.post("/api/bots/999999/enable/").status_code == 404
    response = client.post(f"/api/bots/{bot.pk}/schedules/", {"note": "no time"}, content_type="application/json")
    assert response.status_code == 422
    assert tenant_client(alpha).post(f"/api/bots/{bot.pk}/disable/").status_code in (401, 403)


def test_the_admin_disables_a_bot_through_the_audited_service(live_db, alpha, bot):
    client = tenant_client(alpha, login=True)
    assert client.get("/admin/conversations/bot/").status_code == 200
    assert client.get(f"/admin/conversations/bot/{bot.pk}/change/").status_code == 200

    response = client.post("/admin/conversations/bot/", {"action": "disable_bots", "_selected_action": [bot.pk]})

    assert response.status_code == 302
    assert audit(alpha.tenant.schema_name, bot)[-1] == ("disabled", ALPHA["owner_email"])
    for page in ("bot/add/", "enginedecision/", "botauditlog/", "humantakeover/"):
        assert client.get(f"/admin/conversations/{page}").status_code == 200, page
    with schema_context(alpha.tenant.schema_name):
        decision = EngineDecision.objects.order_by("-id").first()
    if decision is not None:
        assert client.get(f"/admin/conversations/enginedecision/{decision.pk}/change/").status_code == 200
        assert client.get(f"/admin/conversations/humantakeover/{decision.conversation_id}/change/").status_code == 200


# --- working hours -------------------------------------------------------------------------------


def _closed_today_schedule(schema: str, bot: Bot, tz_name: str) -> datetime:
    """Open one hour on a weekday three days away; returns when the current closed window began."""
    tz = zone_for(tz_name)
    today = timezone.now().astimezone(tz).date()
    open_day = today + timedelta(days=3)
    with schema_context(schema):
        WorkingHours.objects.create(bot=bot, weekday=open_day.weekday(), opens_at=time(9), closes_at=time(10))
        Bot.objects.filter(pk=bot.pk).update(working_hours_enabled=True, timezone=tz_name)
        config_changed()
    last_close = datetime.combine(open_day - timedelta(days=7), time(10), tzinfo=tz)
    return last_close.astimezone(UTC)


@pytest.mark.worker
def test_outside_working_hours_the_away_message_goes_once_per_closed_window(live_sandbox, alpha, bot, flows):
    word = token()
    flows.rule(word, flows.text(f"Rule answer ({word})"))
    schema = alpha.tenant.schema_name
    window_start = _closed_today_schedule(schema, bot, "Asia/Kolkata")
    customer = Customer(live_sandbox, alpha)

    decision, (away,) = customer.answer(customer.says(word))
    assert decision.path == Path.AWAY
    assert decision.away_window_start == window_start
    assert body_of(away) == bot.away_message

    decision, sent = customer.answer(customer.says(f"anyone there? {word}"))
    assert (decision.path, sent) == (Path.AWAY, [])
    assert "already sent" in decision.reason

    # Another customer in the same window gets their own away message.
    other = Customer(live_sandbox, alpha)
    _, (other_away,) = other.answer(other.says("hello"))
    assert body_of(other_away) == bot.away_message

    # Opening hours now: the rules answer again.
    with schema_context(schema):
        WorkingHours.objects.filter(bot=bot).delete()
        WorkingHours.objects.bulk_create(
            WorkingHours(bot=bot, weekday=day, opens_at=time(0), closes_at=time(0)) for day in range(7)
        )
    decision, (answer,) = customer.answer(customer.says(word))
    assert body_of(answer) == f"Rule answer ({word})"

    # Closed again, in a new window: one more away message.
    with schema_context(schema):
        WorkingHours.objects.filter(bot=bot).delete()
    _closed_today_schedule(schema, bot, "America/New_York")
    decision, (away_again,) = customer.answer(customer.says(word))
    assert decision.path == Path.AWAY
    assert decision.away_window_start != window_start
    assert [body_of(r) for r in customer.received()].count(bot.away_message) == 2


def test_hours_intervals_are_read_in_the_bots_time_zone(in_alpha):
    bot = default_bot(in_alpha.schema_name)
    Bot.objects.filter(pk=bot.pk).update(working_hours_enabled=True, timezone="Asia/Kolkata")
    config_changed()
    bot.refresh_from_db()
    WorkingHours.objects.create(bot=bot, weekday=0, opens_at=time(9), closes_at=time(18))

    monday_10_ist = datetime(2030, 1, 7, 4, 30, tzinfo=UTC)  # 10:00 in Kolkata
    assert bot_closed_since(bot, at=monday_10_ist) is None
    monday_19_ist = datetime(2030, 1, 7, 13, 30, tzinfo=UTC)
    assert bot_closed_since(bot, at=monday_19_ist) == datetime(2030, 1, 7, 12, 30, tzinfo=UTC)


def test_the_engines_beat_jobs_are_registered_once(db, tenants_setup):
    from django_celery_beat.models import PeriodicTask

    from bizmitra.celery import app
    from conversations.engine.services import PERIODIC_TASKS, engine_periodic_tasks_ensure

    engine_periodic_tasks_ensure()
    engine_periodic_tasks_ensure()

    rows = PeriodicTask.objects.filter(name__in=list(PERIODIC_TASKS))
    assert sorted(rows.values_list("task", flat=True)) == sorted(task for task, _ in PERIODIC_TASKS.values())
    app.loader.import_default_modules()
    assert all(task in app.tasks for task, _ in PERIODIC_TASKS.values())


def test_a_bot_made_in_the_admin_serves_its_number_with_its_hours_and_is_audited(live_db, alpha, bot):
    client = tenant_client(alpha, login=True)

    def management(prefix: str, total: int) -> dict:
        return {
            f"{prefix}-TOTAL_FORMS": str(total),
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }

    data = {
        "name": "Weekend desk",
        "auto_response": "on",
        "ai_enabled": "on",
        "lead_capture": "on",
        "working_hours_enabled": "on",
        "timezone": "Asia/Kolkata",
        "away_message": "Back on Monday!",
        "system_prompt": "",
        **management("phone_numbers", 1),
        "phone_numbers-0-phone_number_id": ALPHA["phone_number_id"],
        **management("working_hours", 1),
        "working_hours-0-weekday": "5",
        "working_hours-0-opens_at": "10:00",
        "working_hours-0-closes_at": "14:00",
        **management("handoff_settings", 0),
        **management("schedules", 0),
        **management("audit_log", 0),
    }
    refused = client.post("/admin/conversations/bot/add/", {**data, "phone_numbers-0-phone_number_id": "123"})
    assert refused.status_code == 200 and b"Not a WhatsApp number of this business" in refused.content

    response = client.post("/admin/conversations/bot/add/", data)

    assert response.status_code == 302, response.content[-3000:]
    with schema_context(alpha.tenant.schema_name):
        made = Bot.objects.get(name="Weekend desk")
        assert bot_for_phone_number(ALPHA["phone_number_id"]) == made
        assert [(h.weekday, h.opens_at) for h in made.working_hours.all()] == [(5, time(10))]
    actions = audit(alpha.tenant.schema_name, made)
    assert actions[0] == ("created", ALPHA["owner_email"])
    assert ("updated", ALPHA["owner_email"]) in actions  # serves the number
