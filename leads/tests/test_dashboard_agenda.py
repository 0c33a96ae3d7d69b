"""The appointments agenda: booking from the lead page in the tenant's time zone, day and
week views, reschedule and cancel through the appointment services, bad input, roles."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from leads.choices import AppointmentStatus, LeadSource
from leads.models import Appointment
from leads.services import appointment_book, lead_create
from leads.tests.factories import make_agent, unique_mobile
from tenants.models import Tenant
from tests.tenancy import tenant_client

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def kolkata(alpha, db):
    Tenant.objects.filter(pk=alpha.tenant.pk).update(timezone="Asia/Kolkata")
    return alpha


@pytest.fixture
def owner(kolkata):
    return tenant_client(kolkata, login=True)


def _lead(name="Asha", agent=None):
    return lead_create(
        source=LeadSource.MANUAL, actor="test", fields={"name": name, "phone": unique_mobile(), "assigned_agent": agent}
    )


def _future_day(days=3):
    return (timezone.now() + timedelta(days=days)).date()


def test_booking_from_the_lead_page_uses_the_tenant_time_zone(kolkata, owner):
    with schema_context("alpha"):
        lead = _lead()
    day = _future_day()
    response = owner.post(
        f"/leads/{lead.pk}/book/",
        {"title": f"Fitting {XSS}", "start": f"{day}T10:30", "duration": "45"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204, response.content
    assert response["HX-Redirect"] == f"/appointments/?view=day&date={day}"
    with schema_context("alpha"):
        appointment = Appointment.objects.get(lead=lead)
    # 10:30 in Kolkata (+05:30) is 05:00 UTC.
    assert appointment.start_at == datetime(day.year, day.month, day.day, 5, 0, tzinfo=UTC)
    assert appointment.end_at - appointment.start_at == timedelta(minutes=45)
    html = owner.get("/appointments/", {"view": "day", "date": str(day)}).content.decode()
    assert "10:30" in html and "11:15" in html and "&lt;img src=x onerror=alert(1)&gt;" in html and XSS not in html
    assert f'href="/leads/{lead.pk}/"' in html
    week = owner.get("/appointments/", {"view": "week", "date": str(day)}).content.decode()
    assert week.count('class="card agenda-day') == 7 and "Fitting" in week


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"start": "tomorrow-ish", "duration": "30"}, "Pick a date and time."),
        ({"start": "2031-01-01T10:00", "duration": "7"}, "Pick a length from the list."),
    ],
)
def test_bad_booking_input_is_a_422_with_the_reason(kolkata, owner, form, message):
    with schema_context("alpha"):
        lead = _lead()
    response = owner.post(f"/leads/{lead.pk}/book/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and message in response.content.decode()
    with schema_context("alpha"):
        assert not Appointment.objects.filter(lead=lead).exists()


def test_reschedule_and_cancel(kolkata, owner):
    day = _future_day()
    with schema_context("alpha"):
        lead = _lead()
        appointment = appointment_book(
            lead=lead, start_at=datetime(day.year, day.month, day.day, 4, 30, tzinfo=UTC), actor="test"
        )
    moved = owner.post(
        f"/appointments/{appointment.pk}/reschedule/",
        {"start": f"{day}T16:00", "duration": "60", "view": "week"},
        HTTP_HX_REQUEST="true",
    )
    assert moved.status_code == 204 and "view=week" in moved["HX-Redirect"]
    with schema_context("alpha"):
        appointment.refresh_from_db()
        assert appointment.status == AppointmentStatus.RESCHEDULED
        assert appointment.start_at == datetime(day.year, day.month, day.day, 10, 30, tzinfo=UTC)
    html = owner.get("/appointments/", {"date": str(day)}).content.decode()
    assert "16:00" in html and "Rescheduled" in html
    cancelled = owner.post(
        f"/appointments/{appointment.pk}/cancel/", {"reason": "Customer ill"}, HTTP_HX_REQUEST="true"
    )
    assert cancelled.status_code == 204
    with schema_context("alpha"):
        appointment.refresh_from_db()
        assert appointment.status == AppointmentStatus.CANCELLED and appointment.cancel_reason == "Customer ill"
    assert "16:00" not in owner.get("/appointments/", {"date": str(day)}).content.decode()
    again = owner.post(
        f"/appointments/{appointment.pk}/reschedule/",
        {"start": f"{day}T17:00", "duration": "30"},
        HTTP_HX_REQUEST="true",
    )
    assert again.status_code == 409 and "cancelled appointment cannot be changed" in again.content.decode()


def test_agents_only_see_and_change_their_own_and_unassigned(kolkata):
    day = _future_day()
    with schema_context("alpha"):
        agent = make_agent(f"agent-{uuid.uuid4().hex[:6]}@alpha.test")
        other = make_agent(f"other-{uuid.uuid4().hex[:6]}@alpha.test")
        start = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
        theirs = appointment_book(lead=_lead("Theirs", agent=other), start_at=start, actor="test", title="Theirs call")
        appointment_book(lead=_lead("Mine", agent=agent), start_at=start, actor="test", title="Mine call")
    client = tenant_client(kolkata)
    assert client.post("/login/", {"username": agent.email, "password": "agent-password"}).status_code == 302
    html = client.get("/appointments/", {"date": str(day)}).content.decode()
    assert "Mine call" in html and "Theirs call" not in html
    assert client.post(f"/appointments/{theirs.pk}/cancel/", {}, HTTP_HX_REQUEST="true").status_code == 404
    with schema_context("alpha"):
        theirs.refresh_from_db()
        assert theirs.status == AppointmentStatus.BOOKED
