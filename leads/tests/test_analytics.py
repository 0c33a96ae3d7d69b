"""Analytics: the figures for seeded data (tenant-local days), the API and its schema, the page,
its CSV downloads, bad ranges (422, never 500) and a query count that does not grow with data.

Seeded in January 2025 so rows other tests commit (browser tests use ``live_db``) stay out of
the range.
"""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context, tenant_context

from conversations.choices import Direction, MessageStatus
from conversations.models import EngineDecision, Message
from leads.choices import LeadSource
from leads.models import Lead
from leads.services import lead_create, lead_transition
from leads.tests.factories import make_agent, make_contact, unique_mobile
from tenants.models import Tenant
from tests.tenancy import tenant_client

RANGE = {"from": "2025-01-01", "to": "2025-01-03"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


def _message(contact, *, when, direction=Direction.INBOUND, status=None, sent_by=None, error=None):
    status = status or (MessageStatus.RECEIVED if direction == Direction.INBOUND else MessageStatus.SENT)
    code, title = error or (None, "")
    return Message.objects.create(
        conversation=contact.conversation,
        direction=direction,
        type="text",
        body="hi",
        wamid=f"wamid.{uuid.uuid4().hex}",
        status=status,
        timestamp=when,
        sent_by=sent_by,
        error_code=code,
        error_title=title,
    )


def _decision(message, path, when):
    decision = EngineDecision.objects.create(
        message=message, conversation=message.conversation, path=path, claimed_at=when, finished_at=when
    )
    EngineDecision.objects.filter(pk=decision.pk).update(created_at=when)


def _lead(name, *, when, source=LeadSource.MANUAL, moves=()):
    lead = lead_create(source=source, actor="test", fields={"name": name, "phone": unique_mobile()})
    for to in moves:
        lead = lead_transition(lead=lead, to=to, actor="test", reason="because")
    Lead.objects.filter(pk=lead.pk).update(created_at=when)
    return lead


@pytest.fixture
def seeded(alpha, db):
    """Alpha in Asia/Kolkata (+05:30), with a known January 2025."""
    Tenant.objects.filter(pk=alpha.tenant.pk).update(timezone="Asia/Kolkata")
    with schema_context("alpha"):
        agent = make_agent(f"agent-{uuid.uuid4().hex[:6]}@alpha.test")
        contact = make_contact()
        # 1 Jan 20:00 UTC is 2 Jan 01:30 in Kolkata: it counts on the 2nd.
        m1 = _message(contact, when=at(1, 10))
        m2 = _message(contact, when=at(1, 20))
        m3 = _message(contact, when=at(2, 9))
        m4 = _message(contact, when=at(3, 9))
        _message(contact, when=at(3, 19))  # 4 Jan 00:30 local: outside the range
        _decision(m1, "builtin", at(1, 10))
        _decision(m2, "rule", at(1, 20))
        _decision(m3, "flow", at(2, 9))
        _decision(m4, "ai", at(3, 9))
        out = Direction.OUTBOUND
        _message(contact, when=at(1, 10, 1), direction=out, status=MessageStatus.READ)
        _message(contact, when=at(2, 9, 1), direction=out, status=MessageStatus.DELIVERED)
        _message(contact, when=at(2, 9, 2), direction=out, status=MessageStatus.SENT, sent_by=agent)
        _message(
            contact,
            when=at(3, 9, 1),
            direction=out,
            status=MessageStatus.FAILED,
            error=(131047, "Re-engagement message"),
        )
        _message(
            contact,
            when=at(3, 9, 2),
            direction=out,
            status=MessageStatus.FAILED,
            error=(131047, "Re-engagement message"),
        )
        _message(
            contact, when=at(3, 9, 3), direction=out, status=MessageStatus.DEAD, error=(131026, "<b>Undeliverable</b>")
        )
        _lead("A", when=at(1, 12))
        _lead("B", when=at(2, 12), moves=["contacted"])
        _lead("C", when=at(2, 12), moves=["qualified", "converted", "paid"], source=LeadSource.WEBSITE)
        _lead("D", when=at(3, 12), moves=["lost"], source=LeadSource.WEBSITE)
        _lead("Old", when=datetime(2024, 12, 1, tzinfo=UTC), moves=["qualified"])
    return alpha


def test_api_figures_for_seeded_data_in_the_tenant_time_zone(seeded):
    client = tenant_client(seeded, login=True)
    response = client.get("/api/analytics/", RANGE)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["range"] == {
        "first_day": "2025-01-01",
        "last_day": "2025-01-03",
        "preset": "",
        "timezone": "Asia/Kolkata",
        "days": 3,
    }
    assert data["messages"] == [
        # A conversation starts after 24 h without a customer message: 3 Jan 09:00 is 24 h after 2 Jan 09:00.
        {"day": "2025-01-01", "inbound": 1, "outbound": 1, "started": 1},
        {"day": "2025-01-02", "inbound": 2, "outbound": 2, "started": 0},
        {"day": "2025-01-03", "inbound": 1, "outbound": 3, "started": 1},
    ]
    assert data["totals"] == {"inbound": 4, "outbound": 6, "started": 2}
    answered = {r["key"]: r["count"] for r in data["who_answered"]["rows"]}
    assert answered == {"builtin": 1, "rules": 2, "ai": 1, "fallback": 0, "humans": 1}
    assert data["who_answered"]["total"] == 5 and data["who_answered"]["automatic_share"] == 0.6
    steps = {r["key"]: r["count"] for r in data["delivery"]["steps"]}
    assert steps == {"sent": 3, "delivered": 2, "read": 1, "failed": 3}
    assert data["delivery"]["errors"] == [
        {"code": 131047, "title": "Re-engagement message", "count": 2},
        {"code": 131026, "title": "<b>Undeliverable</b>", "count": 1},
    ]
    funnel = {r["stage"]: (r["reached"], r["now"]) for r in data["leads"]["stages"]}
    assert funnel == {
        "new": (4, 1),
        "contacted": (2, 1),  # B, and C which went past it
        "qualified": (1, 0),
        "converted": (1, 0),
        "paid": (1, 1),
        "lost": (1, 1),
    }
    assert data["leads"]["stages"][4]["conversion"] == 0.25
    assert {r["source"]: r["count"] for r in data["leads"]["sources"]} == {"manual": 2, "website": 2}


def test_api_key_clients_read_analytics_and_anonymous_ones_do_not(seeded):
    key = Client(HTTP_HOST="alpha.test", HTTP_AUTHORIZATION=f"Bearer {seeded.api_key.raw_key}")
    assert key.get("/api/analytics/", RANGE).json()["totals"] == {"inbound": 4, "outbound": 6, "started": 2}
    assert Client(HTTP_HOST="alpha.test").get("/api/analytics/").status_code in (401, 403)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"preset": "forever"}, "preset"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-02-01", "to": "2025-01-01"}, "to"),
        ({"from": "2023-01-01", "to": "2025-01-01"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-01"}, "from"),
        ({"to": "0001-01-01"}, "to"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, "from"),
    ],
)
def test_bad_ranges_are_422_naming_the_field(alpha, db, params, field):
    client = tenant_client(alpha, login=True)
    response = client.get("/api/analytics/", params)
    assert response.status_code == 422
    assert field in response.json()["fields"]
    page = client.get("/analytics/", params)
    assert page.status_code == 422
    assert 'role="alert"' in page.content.decode() and "Showing the last 30 days instead" in page.content.decode()


def test_presets_end_today(alpha, db):
    client = tenant_client(alpha, login=True)
    for preset, days in (("today", 1), ("7d", 7), ("90d", 90)):
        data = client.get("/api/analytics/", {"preset": preset}).json()
        assert data["range"]["days"] == days and len(data["messages"]) == days


def test_page_shows_charts_tables_and_escapes_meta_titles(seeded):
    client = tenant_client(seeded, login=True)
    html = client.get("/analytics/", RANGE).content.decode()
    for chart in ("messages", "who_answered", "delivery", "delivery_errors", "lead_funnel", "lead_sources"):
        assert f'id="table-{chart}"' in html
        assert f"/analytics/{chart}.csv?from=2025-01-01&amp;to=2025-01-03" in html
    assert 'id="chart-messages"' in html and "chart-4.6.2.umd.min.js" in html
    assert "<b>Undeliverable</b>" not in html.split('id="analytics-data"')[0]
    assert "&lt;b&gt;Undeliverable&lt;/b&gt;" in html
    assert '<th scope="row">2025-01-02</th><td class="num">2</td><td class="num">2</td><td class="num">0</td>' in html


def test_csv_download_of_one_chart(seeded):
    client = tenant_client(seeded, login=True)
    response = client.get("/analytics/delivery_errors.csv", RANGE)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines == [
        "Meta error code,Title,Messages",
        "131047,Re-engagement message,2",
        "131026,<b>Undeliverable</b>,1",
    ]
    assert client.get("/analytics/nope.csv").status_code == 422


def test_openapi_schema_documents_the_analytics_api(alpha, db):
    schema = tenant_client(alpha, login=True).get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/analytics/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"preset", "from", "to"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == {
        "range",
        "totals",
        "messages",
        "response_times",
        "who_answered",
        "ai",
        "delivery",
        "leads",
        "busiest_hours",
    }


def test_query_count_does_not_grow_with_data(seeded):
    client = tenant_client(seeded, login=True)
    client.get("/api/analytics/", RANGE)
    with CaptureQueriesContext(connection) as before:
        client.get("/api/analytics/", RANGE)
    with schema_context("alpha"):
        contact = make_contact()
        for hour in range(10):
            _message(contact, when=at(2, hour), direction=Direction.OUTBOUND, error=(hour, f"e{hour}"), status="failed")
            _lead(f"More {hour}", when=at(2, hour), moves=["contacted"])
    with CaptureQueriesContext(connection) as after:
        client.get("/api/analytics/", RANGE)
    assert len(after) == len(before)


def test_roll_ups_give_the_same_figures_and_are_what_past_days_read(seeded):
    from leads.analytics.services import analytics_days_roll_up
    from leads.models import AnalyticsDay

    client = tenant_client(seeded, login=True)
    live = client.get("/api/analytics/", RANGE).json()
    # The real tenant row (as tenant-schemas-celery gives the task): its zone is Kolkata.
    with tenant_context(Tenant.objects.get(pk=seeded.tenant.pk)):
        assert analytics_days_roll_up(first=datetime(2025, 1, 1).date(), last=datetime(2025, 1, 3).date()) == 3
        assert analytics_days_roll_up(first=datetime(2025, 1, 1).date(), last=datetime(2025, 1, 3).date()) == 3
        assert AnalyticsDay.objects.filter(timezone="Asia/Kolkata").count() == 3  # re-run replaced, not added
    assert client.get("/api/analytics/", RANGE).json() == live
    with schema_context("alpha"):
        # Raw rows gone: a rolled-up day still reports what it stored (it is not re-read)...
        Message.objects.filter(timestamp__gte=at(1, 0), timestamp__lt=at(1, 18)).delete()
    rolled = client.get("/api/analytics/", RANGE).json()
    assert rolled["messages"][0] == {"day": "2025-01-01", "inbound": 1, "outbound": 1, "started": 1}
    # ...until the tenant moves to another time zone: those rows no longer apply.
    Tenant.objects.filter(pk=seeded.tenant.pk).update(timezone="UTC")
    moved = client.get("/api/analytics/", RANGE).json()
    assert moved["range"]["timezone"] == "UTC"
    # The 20:00 UTC one; it starts a conversation now that the 10:00 one is gone.
    assert moved["messages"][0] == {"day": "2025-01-01", "inbound": 1, "outbound": 0, "started": 1}


def test_roll_up_task_keeps_closed_days_and_never_today(alpha, db):
    from django.utils import timezone as dj_timezone

    from leads.analytics.services import analytics_days_roll_up
    from leads.models import AnalyticsDay
    from leads.tasks import analytics_roll_up_task

    with tenant_context(Tenant.objects.get(pk=alpha.tenant.pk)):
        contact = make_contact()
        _message(contact, when=dj_timezone.now())
        written = analytics_roll_up_task()
        today = dj_timezone.now().date()
        assert written == 366
        assert not AnalyticsDay.objects.filter(day__gte=today).exists()
        assert analytics_days_roll_up(first=today, last=today) == 0
        # The next run redoes only the most recent closed days (late delivery statuses).
        assert analytics_roll_up_task() == 3
    # Today stays live.
    data = tenant_client(alpha, login=True).get("/api/analytics/", {"preset": "today"}).json()
    assert data["totals"]["inbound"] >= 1


def test_todays_figures_follow_new_messages_and_statuses_at_once(alpha, db):
    """Today is read live, never from a roll-up or a cache: a message stored a moment ago and a
    status that just moved are in the next answer (past days may come from roll-ups)."""
    from django.utils import timezone as dj_timezone

    from leads.analytics.services import analytics_roll_up_due

    client = tenant_client(alpha, login=True)
    with tenant_context(Tenant.objects.get(pk=alpha.tenant.pk)):
        contact = make_contact()
        _message(contact, when=dj_timezone.now())
        analytics_roll_up_due()  # the task has run: closed days are kept, today is not

    def today():
        data = client.get("/api/analytics/", {"preset": "today"}).json()
        steps = {s["key"]: s["count"] for s in data["delivery"]["steps"]}
        return data["totals"]["inbound"], data["totals"]["outbound"], steps["read"]

    inbound, outbound, read = today()
    assert inbound >= 1
    with schema_context("alpha"):
        _message(contact, when=dj_timezone.now())
        reply = _message(contact, when=dj_timezone.now(), direction=Direction.OUTBOUND, status=MessageStatus.SENT)
    assert today() == (inbound + 1, outbound + 1, read)
    with schema_context("alpha"):
        Message.objects.filter(pk=reply.pk).update(status=MessageStatus.READ)
    assert today() == (inbound + 1, outbound + 1, read + 1)
