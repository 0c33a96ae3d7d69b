"""Appointments without a calendar: booking, rescheduling, cancelling. (Their reminder
workflows are tested in workflows/tests/test_lead_triggers.py.)"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from leads.models import Appointment, LeadSignal
from leads.services import appointment_book, appointment_cancel, lead_capture
from leads.tests.factories import make_contact, unique_mobile


@pytest.fixture
def api(alpha, db):
    return Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")


def _lead(**fields):
    with schema_context("alpha"):
        return lead_capture(contact=make_contact(), fields={"name": "Asha", **fields}, source="whatsapp", actor="t")


def _iso(dt) -> str:
    return dt.isoformat()


class TestAppointmentApi:
    def test_book_reschedule_cancel(self, api):
        lead = _lead()
        start = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
        response = api.post(
            "/api/appointments/",
            {"lead": lead.pk, "start_at": _iso(start), "title": "Demo call"},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        booked = response.json()
        assert booked["status"] == "booked" and booked["lead"]["id"] == lead.pk
        assert booked["calendar_sync_state"] == "" and booked["meeting_link"] == ""
        assert booked["booked_by"] == "api-key:ALPHA"
        with schema_context("alpha"):
            assert LeadSignal.objects.filter(lead=lead, kind="appointment_booked").count() == 1

        later = start + timedelta(hours=3)
        moved = api.patch(
            f"/api/appointments/{booked['id']}/", {"start_at": _iso(later)}, content_type="application/json"
        ).json()
        assert moved["status"] == "rescheduled"
        assert moved["end_at"] == _iso(later + timedelta(minutes=30)).replace("+00:00", "Z")

        cancelled = api.post(
            f"/api/appointments/{booked['id']}/cancel/", {"reason": "customer busy"}, content_type="application/json"
        ).json()
        assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "customer busy"
        again = api.post(f"/api/appointments/{booked['id']}/cancel/", {}, content_type="application/json")
        assert again.status_code == 200
        refused = api.patch(
            f"/api/appointments/{booked['id']}/", {"start_at": _iso(start)}, content_type="application/json"
        )
        assert refused.status_code == 409

    def test_list_filters(self, api):
        lead = _lead()
        start = timezone.now() + timedelta(days=1)
        with schema_context("alpha"):
            keep = appointment_book(lead=lead, start_at=start, actor="t")
            gone = appointment_book(lead=lead, start_at=start + timedelta(days=7), actor="t")
            appointment_cancel(appointment=gone, actor="t")
        rows = api.get("/api/appointments/?status=booked").json()["results"]
        assert [r["id"] for r in rows] == [keep.pk]
        window = f"start_from={_iso(start + timedelta(days=2))}".replace("+", "%2B")
        assert [r["id"] for r in api.get(f"/api/appointments/?{window}").json()["results"]] == [gone.pk]

    def test_invalid_times_are_422(self, api):
        lead = _lead()
        start = timezone.now() + timedelta(days=1)
        response = api.post(
            "/api/appointments/",
            {"lead": lead.pk, "start_at": _iso(start), "end_at": _iso(start - timedelta(minutes=5))},
            content_type="application/json",
        )
        assert response.status_code == 422 and "end_at" in response.json()["fields"]
        nobody = api.post("/api/appointments/", {"start_at": _iso(start)}, content_type="application/json")
        assert nobody.status_code == 422

    def test_another_tenants_appointment_is_404(self, api, beta):
        with schema_context("beta"):
            lead = lead_capture(phone=unique_mobile(), fields={}, source="website", actor="t")
            theirs = appointment_book(lead=lead, start_at=timezone.now() + timedelta(days=1), actor="t")
        with schema_context("alpha"):
            Appointment.objects.filter(pk=theirs.pk).delete()
        assert api.get(f"/api/appointments/{theirs.pk}/").status_code == 404
        assert (
            api.post(f"/api/appointments/{theirs.pk}/cancel/", {}, content_type="application/json").status_code == 404
        )
