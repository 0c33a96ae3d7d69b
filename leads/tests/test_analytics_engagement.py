"""Analytics, part 2: conversations started, first-response (bot, team) and resolution times,
busiest hours on the tenant's clock, and AI calls, tokens and estimated cost per bot against
the daily budget — in the API, its schema, the page's tables, the CSVs and the roll-ups.

Seeded in February 2025 (Monday 3rd – Wednesday 5th, Asia/Kolkata) so rows other tests commit
stay out of the range.
"""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import override_settings
from django_tenants.utils import schema_context, tenant_context

from conversations.choices import Direction, MessageStatus
from conversations.models import (
    AIAssistantSettings,
    AICallLog,
    Bot,
    ConversationActivity,
    EngineDecision,
    Message,
)
from leads.analytics.engagement import BUCKET_EDGES, histogram_quantile
from leads.tests.factories import make_agent, make_contact
from tenants.models import Tenant
from tests.tenancy import tenant_client

RANGE = {"from": "2025-02-03", "to": "2025-02-05"}
PRICES = {"prompt": 2.0, "completion": 10.0}


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2025, 2, day, hour, minute, second, tzinfo=UTC)


def _in(contact, when):
    return Message.objects.create(
        conversation=contact.conversation,
        direction=Direction.INBOUND,
        type="text",
        body="hi",
        wamid=f"wamid.{uuid.uuid4().hex}",
        status=MessageStatus.RECEIVED,
        timestamp=when,
    )


def _out(contact, when, *, key=None, sent_by=None):
    return Message.objects.create(
        conversation=contact.conversation,
        direction=Direction.OUTBOUND,
        type="text",
        body="reply",
        idempotency_key=key,
        status=MessageStatus.SENT,
        timestamp=when,
        sent_by=sent_by,
    )


def _ai_call(*, when, prompt, completion, rounds=1, message=None, bot=None):
    log = AICallLog.objects.create(
        contact=message.conversation.contact if message else None,
        conversation=message.conversation if message else None,
        inbound_message=message,
        prompt_tokens=prompt,
        completion_tokens=completion,
        rounds=rounds,
        outcome="ok" if rounds else "fallback",
    )
    AICallLog.objects.filter(pk=log.pk).update(created_at=when)
    if message is not None:
        EngineDecision.objects.create(
            message=message, conversation=message.conversation, bot=bot, path="ai", claimed_at=when, ai_call=log
        )
    return log


@pytest.fixture
def served(alpha, db):
    Tenant.objects.filter(pk=alpha.tenant.pk).update(timezone="Asia/Kolkata")
    with schema_context("alpha"):
        agent = make_agent(f"agent-{uuid.uuid4().hex[:6]}@alpha.test")
        sales = Bot.objects.create(name="Sales bot")
        AIAssistantSettings.objects.update_or_create(pk=1, defaults={"daily_token_budget": 1000})
        a, b = make_contact(profile_name="Asha"), make_contact(profile_name="Bilal")
        # A: starts Mon 3 Feb 10:00 UTC (15:30 in Kolkata); bot in 4 s, team in 30 min, resolved in 1 h.
        a1 = _in(a, at(3, 10))
        _out(a, at(3, 10, 0, 4), key=f"reply:{a1.wamid}")
        _out(a, at(3, 10, 30), sent_by=agent)
        resolve = ConversationActivity.objects.create(conversation=a.conversation, kind="resolve", actor=agent)
        ConversationActivity.objects.filter(pk=resolve.pk).update(at=at(3, 11))
        _in(a, at(3, 12))  # 2 h later: the same conversation, not a new one
        # …and again Wed 5 Feb 09:00 UTC (45 h later): a new start; the bot answers in 10 s, nobody else.
        a3 = _in(a, at(5, 9))
        _out(a, at(5, 9, 0, 10), key=f"reply:{a3.wamid}")
        # B: starts Tue 08:00 UTC; a workflow message (no engine key) is not the bot's answer; the away
        # reply in 2 s is; the team answers two days later, outside the 24 h window.
        b1 = _in(b, at(4, 8))
        _out(b, at(4, 8, 0, 1), key="wfjob:123")
        _out(b, at(4, 8, 0, 2), key=f"away:{b1.wamid}")
        _out(b, at(6, 8), sent_by=agent)
        # AI: Sales bot 1,000 + 200 tokens on Monday, one refused attempt; 500 tokens of a prompt
        # test (no bot) on Tuesday.
        _ai_call(when=at(3, 10), prompt=1000, completion=200, message=a1, bot=sales)
        _ai_call(when=at(4, 8), prompt=0, completion=0, rounds=0, message=b1, bot=sales)
        _ai_call(when=at(4, 9), prompt=500, completion=0)
    return alpha, sales


@override_settings(ANALYTICS_AI_PRICE_PER_MILLION_TOKENS=PRICES)
def test_api_engagement_figures_for_seeded_data(served):
    alpha, sales = served
    data = tenant_client(alpha, login=True).get("/api/analytics/", RANGE).json()
    assert [d["started"] for d in data["messages"]] == [1, 1, 1]
    assert data["totals"]["started"] == 3
    times = {r["key"]: r for r in data["response_times"]["rows"]}
    # Bot: 2 s, 4 s, 10 s → p50 in the [4, 5) bucket, p90 in [10, 15), interpolated.
    assert (times["bot"]["count"], times["bot"]["unanswered"]) == (3, 0)
    assert (times["bot"]["p50_seconds"], times["bot"]["p90_seconds"]) == (4.5, 13.5)
    assert (times["human"]["count"], times["human"]["unanswered"]) == (1, 2)
    assert (times["human"]["p50_seconds"], times["human"]["p90_seconds"]) == (2250.0, 2610.0)
    assert times["resolution"]["count"] == 1 and times["resolution"]["unanswered"] is None
    assert (times["resolution"]["p50_seconds"], times["resolution"]["p90_seconds"]) == (4500.0, 5220.0)

    hours = data["busiest_hours"]
    assert [r["weekday"] for r in hours["rows"]] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    # Kolkata is UTC+05:30: 10:00 and 12:00 UTC on Monday are 15:30 and 17:30.
    nonzero = {(r["weekday"], h): n for r in hours["rows"] for h, n in enumerate(r["hours"]) if n}
    assert nonzero == {("Mon", 15): 1, ("Mon", 17): 1, ("Tue", 13): 1, ("Wed", 14): 1}
    assert hours["peak"] == {"weekday": "Mon", "hour": 15, "count": 1}

    ai = data["ai"]
    assert ai["daily_token_budget"] == 1000 and ai["currency"] == "USD"
    assert (ai["calls"], ai["refused"], ai["tokens"]) == (2, 1, 1700)
    assert ai["bots"] == [
        {
            "bot_id": sales.pk,
            "name": "Sales bot",
            "calls": 1,
            "refused": 1,
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "tokens": 1200,
            "cost": 0.004,  # 1,000 × 2 + 200 × 10 per million
        },
        {
            "bot_id": None,
            "name": "No bot (prompt tests, other)",
            "calls": 1,
            "refused": 0,
            "prompt_tokens": 500,
            "completion_tokens": 0,
            "tokens": 500,
            "cost": 0.001,
        },
    ]
    assert ai["cost"] == 0.005
    assert ai["days"] == [
        {"day": "2025-02-03", "calls": 1, "tokens": 1200, "budget_share": 1.2},
        {"day": "2025-02-04", "calls": 1, "tokens": 500, "budget_share": 0.5},
        {"day": "2025-02-05", "calls": 0, "tokens": 0, "budget_share": 0.0},
    ]
    assert ai["days_over_budget"] == 1


def test_roll_ups_keep_the_engagement_figures(served):
    from leads.analytics.services import analytics_days_roll_up
    from leads.models import AnalyticsDay

    alpha, _ = served
    client = tenant_client(alpha, login=True)
    live = client.get("/api/analytics/", RANGE).json()
    with tenant_context(Tenant.objects.get(pk=alpha.tenant.pk)):
        assert analytics_days_roll_up(first=date(2025, 2, 3), last=date(2025, 2, 5)) == 3
        # Raw rows gone: the figures now come from the roll-ups alone.
        Message.objects.filter(timestamp__gte=at(3, 0), timestamp__lt=at(7, 0)).delete()
        AICallLog.objects.all().delete()
        assert AnalyticsDay.objects.filter(day=date(2025, 2, 3)).get().started == 1
    assert client.get("/api/analytics/", RANGE).json() == live
    # Rows of the previous format lack these figures: they are read from raw rows again.
    with schema_context("alpha"):
        AnalyticsDay.objects.update(format=1)
    assert client.get("/api/analytics/", RANGE).json()["totals"]["started"] == 0


@override_settings(ANALYTICS_AI_PRICE_PER_MILLION_TOKENS=PRICES)
def test_page_tables_and_csvs_of_the_new_charts(served):
    alpha, _ = served
    client = tenant_client(alpha, login=True)
    html = client.get("/analytics/", RANGE).content.decode()
    for chart in ("response_times", "ai_days", "ai_bots", "busiest_hours"):
        assert f'id="table-{chart}"' in html
        assert f"/analytics/{chart}.csv?from=2025-02-03&amp;to=2025-02-05" in html
    assert '<th scope="row">Bot first response</th><td class="num">3</td><td class="num">0</td>' in html
    assert "Mon 15:00–16:00" in html
    lines = client.get("/analytics/response_times.csv", RANGE).content.decode("utf-8-sig").splitlines()
    assert lines == [
        "Measure,Measured,No answer in 24 h,p50,p90",
        "Bot first response,3,0,4 s,14 s",
        "Team first response,1,2,37.5 min,43.5 min",
        "Resolution,1,,1.2 h,1.4 h",
    ]
    bots = client.get("/analytics/ai_bots.csv", RANGE).content.decode("utf-8-sig").splitlines()
    assert bots[0] == "Bot,AI calls,Refused,Prompt tokens,Completion tokens,Estimated cost (USD)"
    assert bots[1] == "Sales bot,1,1,1000,200,0.0040"
    heat = client.get("/analytics/busiest_hours.csv", RANGE).content.decode("utf-8-sig").splitlines()
    assert heat[0].startswith("Weekday,00,01,") and len(heat) == 8
    assert heat[1].split(",")[16] == "1"  # Monday, 15:00


def test_histogram_quantile_interpolates_within_a_bucket():
    counts = [0] * len(BUCKET_EDGES)
    assert histogram_quantile(counts, 0.5) is None
    counts[BUCKET_EDGES.index(60)] = 4  # four answers between 60 and 90 s
    assert histogram_quantile(counts, 0.5) == 75.0
    counts[-1] = 4  # four more past a week: the open bucket reports its lower edge
    assert histogram_quantile(counts, 0.9) == float(BUCKET_EDGES[-1])
    assert timedelta(seconds=BUCKET_EDGES[-1]) == timedelta(days=7)
