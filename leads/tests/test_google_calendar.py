"""Google Calendar sync over real HTTP: a local server speaks Google's OAuth token endpoint
(service-account JWT bearer grant) and the Calendar v3 events insert/patch/delete wire format."""

import json
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context
from google.auth import jwt
from werkzeug import Response

from leads.choices import CalendarSyncState, NotificationKind
from leads.models import Appointment, GoogleCalendarSettings, Notification
from leads.services import (
    appointment_book,
    appointment_calendar_sync,
    appointment_cancel,
    appointment_reschedule,
    lead_capture,
)
from leads.services.calendar_sync import appointments_calendar_sync_due
from leads.tests.factories import make_contact

CALENDAR_ID = "bookings@alpha.test"
# As the server sees it; on the wire the calendar id is percent-encoded (bookings%40alpha.test).
EVENTS_PATH = "/calendar/v3/calendars/bookings@alpha.test/events"
MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
def key_pair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


@pytest.fixture
def google(httpserver, settings, key_pair):
    """The local Google: token endpoint + Calendar API; returns the service-account JSON it accepts."""
    settings.GOOGLE_CALENDAR_API_URL = httpserver.url_for("/calendar/v3")
    private_pem, _ = key_pair
    info = {
        "type": "service_account",
        "project_id": "bizmitra-test",
        "private_key_id": "key-1",
        "private_key": private_pem,
        "client_email": "bookings@bizmitra-test.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": httpserver.url_for("/token"),
    }
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"}
    )
    yield json.dumps(info)
    httpserver.clear()


@pytest.fixture
def calendar(in_alpha, google):
    GoogleCalendarSettings.objects.create(pk=1, calendar_id=CALENDAR_ID, service_account_json=google)


def _event_response(request, **extra) -> dict:
    body = request.get_json()
    event = {
        "kind": "calendar#event",
        "id": body.get("id", "existing"),
        "status": "confirmed",
        "summary": body.get("summary"),
        "start": body.get("start"),
        "end": body.get("end"),
        "hangoutLink": MEET,
        "conferenceData": {
            "createRequest": {
                "requestId": body.get("id", "x"),
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
                "status": {"statusCode": "success"},
            },
            "entryPoints": [{"entryPointType": "video", "uri": MEET, "label": "meet.google.com/abc-defg-hij"}],
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "conferenceId": "abc-defg-hij",
        },
    }
    event.update(extra)
    return event


def _book(**kwargs) -> Appointment:
    lead = lead_capture(
        contact=make_contact(), fields={"name": "Asha", "email": "asha@x.in"}, source="whatsapp", actor="t"
    )
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    return appointment_book(lead=lead, start_at=start, title="Demo", actor="t", **kwargs)


def _calendar_requests(httpserver):
    return [request for request, _ in httpserver.log if request.path.startswith("/calendar/")]


def _token_requests(httpserver):
    return [request for request, _ in httpserver.log if request.path == "/token"]


class TestBooking:
    def test_booking_creates_an_event_with_a_meet_link(self, calendar, httpserver, key_pair):
        httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_handler(
            lambda request: Response(json.dumps(_event_response(request)), content_type="application/json")
        )
        appointment = _book()
        assert appointment.calendar_sync_state == CalendarSyncState.PENDING

        assert appointment_calendar_sync(appointment_id=appointment.pk) == "synced"

        (token,) = _token_requests(httpserver)
        form = parse_qs(token.get_data(as_text=True))
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(form["assertion"][0], certs=key_pair[1])  # signed with the service account's key
        assert claims["iss"] == "bookings@bizmitra-test.iam.gserviceaccount.com"
        assert claims["aud"] == "https://oauth2.googleapis.com/token"  # google-auth always names Google's endpoint
        assert claims["scope"] == "https://www.googleapis.com/auth/calendar"

        (insert,) = _calendar_requests(httpserver)
        assert insert.headers["Authorization"] == "Bearer ya29.test-token"
        assert insert.environ["REQUEST_URI"].startswith("/calendar/v3/calendars/bookings%40alpha.test/events?")
        assert insert.args["conferenceDataVersion"] == "1"
        body = insert.get_json()
        assert body["conferenceData"]["createRequest"]["conferenceSolutionKey"] == {"type": "hangoutsMeet"}
        assert body["conferenceData"]["createRequest"]["requestId"] == appointment.calendar_event_uid
        assert body["id"] == appointment.calendar_event_uid
        assert body["summary"] == "Demo"
        assert body["start"] == {"dateTime": appointment.start_at.isoformat(), "timeZone": "UTC"}
        assert body["end"] == {"dateTime": appointment.end_at.isoformat(), "timeZone": "UTC"}
        assert "Asha" in body["description"] and "asha@x.in" in body["description"]

        appointment.refresh_from_db()
        assert appointment.meeting_link == MEET
        assert appointment.google_event_id == appointment.calendar_event_uid
        assert appointment.calendar_sync_state == CalendarSyncState.SYNCED
        assert appointment_calendar_sync(appointment_id=appointment.pk) == "up_to_date"
        assert len(_calendar_requests(httpserver)) == 1

    def test_link_from_entry_points_when_there_is_no_hangout_link(self, calendar, httpserver):
        httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_handler(
            lambda request: Response(
                json.dumps(_event_response(request, hangoutLink=None)), content_type="application/json"
            )
        )
        appointment = _book()
        appointment_calendar_sync(appointment_id=appointment.pk)
        appointment.refresh_from_db()
        assert appointment.meeting_link == MEET

    def test_reschedule_patches_and_cancel_deletes_the_event(self, calendar, httpserver):
        appointment = _book()
        event_path = f"{EVENTS_PATH}/{appointment.calendar_event_uid}"
        httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_handler(
            lambda request: Response(json.dumps(_event_response(request)), content_type="application/json")
        )
        httpserver.expect_request(event_path, method="PATCH").respond_with_handler(
            lambda request: Response(
                json.dumps(_event_response(request, id=appointment.calendar_event_uid)), content_type="application/json"
            )
        )
        httpserver.expect_request(event_path, method="DELETE").respond_with_data("", status=204)
        appointment_calendar_sync(appointment_id=appointment.pk)

        later = appointment.start_at + timedelta(days=1)
        appointment = appointment_reschedule(appointment=appointment, start_at=later, actor="t")
        assert appointment_calendar_sync(appointment_id=appointment.pk) == "synced"
        patch = _calendar_requests(httpserver)[-1]
        assert patch.method == "PATCH" and patch.args["conferenceDataVersion"] == "1"
        assert patch.get_json()["start"]["dateTime"] == later.isoformat()
        assert "conferenceData" not in patch.get_json()  # the Meet link stays as it is

        appointment = appointment_cancel(appointment=appointment, actor="t", reason="no show")
        assert appointment_calendar_sync(appointment_id=appointment.pk) == "deleted"
        delete = _calendar_requests(httpserver)[-1]
        assert delete.method == "DELETE" and delete.headers["Authorization"] == "Bearer ya29.test-token"
        appointment.refresh_from_db()
        assert appointment.calendar_sync_state == CalendarSyncState.SYNCED
        assert len(_token_requests(httpserver)) == 1  # the access token is reused

    def test_insert_that_already_happened_is_patched_not_duplicated(self, calendar, httpserver):
        appointment = _book()
        httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_json(
            {"error": {"code": 409, "message": "The requested identifier already exists."}}, status=409
        )
        httpserver.expect_request(
            f"{EVENTS_PATH}/{appointment.calendar_event_uid}", method="PATCH"
        ).respond_with_handler(
            lambda request: Response(
                json.dumps(_event_response(request, id=appointment.calendar_event_uid)), content_type="application/json"
            )
        )
        assert appointment_calendar_sync(appointment_id=appointment.pk) == "synced"
        appointment.refresh_from_db()
        assert appointment.meeting_link == MEET
        assert [r.method for r in _calendar_requests(httpserver)] == ["POST", "PATCH"]

    def test_a_meet_link_still_being_created_is_fetched_on_the_next_pass(self, calendar, httpserver):
        appointment = _book()
        pending = {"createRequest": {"requestId": "r", "status": {"statusCode": "pending"}}}
        httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_handler(
            lambda request: Response(
                json.dumps(_event_response(request, hangoutLink=None, conferenceData=pending)),
                content_type="application/json",
            )
        )
        httpserver.expect_request(
            f"{EVENTS_PATH}/{appointment.calendar_event_uid}", method="PATCH"
        ).respond_with_handler(
            lambda request: Response(
                json.dumps(_event_response(request, id=appointment.calendar_event_uid)), content_type="application/json"
            )
        )
        assert appointment_calendar_sync(appointment_id=appointment.pk) == "retry"
        appointment.refresh_from_db()
        assert appointment.google_event_id and not appointment.meeting_link
        later = timezone.now() + timedelta(minutes=1)
        assert appointment.pk in appointments_calendar_sync_due(now=later)
        assert appointment_calendar_sync(appointment_id=appointment.pk, now=later) == "synced"
        appointment.refresh_from_db()
        assert appointment.meeting_link == MEET


class TestFailures:
    def test_google_errors_are_retried_with_backoff(self, calendar, httpserver):
        appointment = _book()
        httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_json(
            {"error": {"code": 503, "message": "Backend Error"}}, status=503
        )
        assert appointment_calendar_sync(appointment_id=appointment.pk) == "retry"
        appointment.refresh_from_db()
        assert appointment.calendar_sync_state == CalendarSyncState.PENDING
        assert appointment.calendar_sync_attempts == 1 and "Backend Error" in appointment.calendar_sync_error
        assert appointment.pk not in appointments_calendar_sync_due()
        assert appointment.pk in appointments_calendar_sync_due(now=timezone.now() + timedelta(minutes=2))

    def test_a_refusal_fails_at_once_and_tells_the_owners(self, calendar, httpserver):
        appointment = _book()
        httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_json(
            {"error": {"code": 403, "message": "You need to have writer access to this calendar."}}, status=403
        )
        assert appointment_calendar_sync(appointment_id=appointment.pk) == "failed"
        appointment.refresh_from_db()
        assert appointment.calendar_sync_state == CalendarSyncState.FAILED
        assert appointment.status == "booked"  # the booking itself stands
        assert Notification.objects.filter(appointment=appointment, kind=NotificationKind.CALENDAR_SYNC_FAILED).exists()

    def test_a_rejected_token_request_fails_the_sync(self, in_alpha, httpserver, settings, key_pair):
        settings.GOOGLE_CALENDAR_API_URL = httpserver.url_for("/calendar/v3")
        info = {
            "type": "service_account",
            "private_key": key_pair[0],
            "client_email": "revoked@bizmitra-test.iam.gserviceaccount.com",
            "token_uri": httpserver.url_for("/token-denied"),
        }
        httpserver.expect_request("/token-denied", method="POST").respond_with_json(
            {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
        )
        GoogleCalendarSettings.objects.create(pk=1, calendar_id=CALENDAR_ID, service_account_json=json.dumps(info))
        appointment = _book()
        assert appointment_calendar_sync(appointment_id=appointment.pk) == "failed"
        appointment.refresh_from_db()
        assert "invalid_grant" in appointment.calendar_sync_error
        assert not _calendar_requests(httpserver)
        httpserver.clear()


class TestWithoutCredentials:
    def test_no_calendar_means_no_http_and_appointments_still_work(self, alpha, db, httpserver, settings):
        settings.GOOGLE_CALENDAR_API_URL = httpserver.url_for("/calendar/v3")
        api = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")
        with schema_context("alpha"):
            lead = lead_capture(contact=make_contact(), fields={}, source="whatsapp", actor="t")
        start = timezone.now() + timedelta(days=1)
        booked = api.post(
            "/api/appointments/", {"lead": lead.pk, "start_at": start.isoformat()}, content_type="application/json"
        )
        assert booked.status_code == 201
        appointment_id = booked.json()["id"]
        moved = api.patch(
            f"/api/appointments/{appointment_id}/",
            {"start_at": (start + timedelta(hours=1)).isoformat()},
            content_type="application/json",
        )
        assert moved.status_code == 200 and moved.json()["status"] == "rescheduled"
        assert api.post(f"/api/appointments/{appointment_id}/cancel/").json()["status"] == "cancelled"
        with schema_context("alpha"):
            assert appointment_calendar_sync(appointment_id=appointment_id) == "up_to_date"
            appointment = Appointment.objects.get(pk=appointment_id)
            assert appointment.calendar_sync_state == "" and appointment.calendar_sync_version == 0
            assert appointments_calendar_sync_due() == []
        assert httpserver.log == []

    def test_api_shows_the_meet_link_once_synced(self, alpha, db, google, httpserver):
        with schema_context("alpha"):
            GoogleCalendarSettings.objects.create(pk=1, calendar_id=CALENDAR_ID, service_account_json=google)
            lead = lead_capture(contact=make_contact(), fields={}, source="whatsapp", actor="t")
        httpserver.expect_request(EVENTS_PATH, method="POST").respond_with_handler(
            lambda request: Response(json.dumps(_event_response(request)), content_type="application/json")
        )
        api = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")
        start = (timezone.now() + timedelta(days=1)).isoformat()
        booked = api.post("/api/appointments/", {"lead": lead.pk, "start_at": start}, content_type="application/json")
        assert booked.json()["calendar_sync_state"] == "pending"
        with schema_context("alpha"):
            appointment_calendar_sync(appointment_id=booked.json()["id"])
        shown = api.get(f"/api/appointments/{booked.json()['id']}/").json()
        assert shown["meeting_link"] == MEET and shown["calendar_sync_state"] == "synced"
