"""Mirror of appointments on the tenant's Google Calendar (events with a Meet link).

Runs in ``appointment_calendar_sync_task`` after the booking commits, and again
from the periodic retry job with backoff; every call brings Google up to the
appointment's ``calendar_sync_version``.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bizmitra.events import publish
from leads.choices import AppointmentStatus, CalendarSyncState, NotificationKind
from leads.google_calendar import CalendarError, GoogleCalendarClient, conference_pending, credentials_for, meet_link_of
from leads.models import Appointment
from leads.selectors import google_calendar_settings_get, owners_list
from leads.services.notifications import notification_create
from tenants.selectors import tenant_timezone_name

logger = logging.getLogger(__name__)

CALENDAR_MAX_ATTEMPTS = 8
# Google may still be creating the Meet conference when it answers; look again shortly.
CONFERENCE_PENDING_RECHECK = timedelta(seconds=30)


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** (attempts - 1), 60))


def _calendar_body(appointment: Appointment, tz_name: str) -> dict:
    lines = []
    if appointment.lead_id:
        lead = appointment.lead
        lines.append(f"With: {lead.display_name}")
        if lead.phone:
            lines.append(f"Phone: {lead.phone}")
        if lead.email:
            lines.append(f"Email: {lead.email}")
        if lead.product_interest:
            lines.append(f"Interested in: {lead.product_interest}")
    elif appointment.contact_id:
        lines.append(f"With: {appointment.contact} ({appointment.contact.recipient})")
    if appointment.notes:
        lines += ["", appointment.notes]
    return {
        "summary": appointment.title,
        "description": "\n".join(lines),
        "start": {"dateTime": appointment.start_at.isoformat(), "timeZone": tz_name},
        "end": {"dateTime": appointment.end_at.isoformat(), "timeZone": tz_name},
    }


def _push(client: GoogleCalendarClient, appointment: Appointment) -> dict:
    """Make Google match the appointment; returns the event (empty after a delete)."""
    if appointment.status == AppointmentStatus.CANCELLED:
        # An earlier insert may have reached Google without us recording its id.
        client.delete_event(appointment.google_event_id or appointment.calendar_event_uid)
        return {}
    body = _calendar_body(appointment, tenant_timezone_name())
    if appointment.google_event_id:
        return client.patch_event(appointment.google_event_id, body)
    insert = {
        **body,
        "id": appointment.calendar_event_uid,
        "conferenceData": {
            "createRequest": {
                "requestId": appointment.calendar_event_uid,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        },
    }
    try:
        return client.insert_event(insert)
    except CalendarError as exc:
        if exc.status != 409:
            raise
        # 409: our earlier insert landed but its answer was lost; update that event instead.
        return client.patch_event(appointment.calendar_event_uid, body)


def appointment_calendar_sync(*, appointment_id: int, now: datetime | None = None) -> str:
    """Bring Google Calendar up to date with one appointment (call inside the tenant's schema).

    Holds the appointment's row lock during the call, so syncs of one appointment
    never interleave and a reschedule waits for an in-flight sync. Returns
    "synced", "deleted", "retry", "failed", "up_to_date", "not_configured" or "gone".
    """
    now = now or timezone.now()
    calendar = google_calendar_settings_get()
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("lead", "contact")
            .filter(pk=appointment_id)
            .first()
        )
        if appointment is None:
            return "gone"
        target_version = appointment.calendar_sync_version
        if appointment.calendar_synced_version >= target_version:
            return "up_to_date"
        if calendar is None:
            Appointment.objects.filter(pk=appointment.pk).update(
                calendar_sync_state=CalendarSyncState.NOT_CONFIGURED, calendar_synced_version=target_version
            )
            return "not_configured"
        try:
            client = GoogleCalendarClient(
                calendar_id=calendar.calendar_id,
                credentials=credentials_for(
                    raw_json=calendar.service_account_json, delegated_user=calendar.delegated_user
                ),
            )
        except ValueError as exc:
            return _sync_failed(appointment, CalendarError(str(exc)), now=now)
        try:
            with client:
                event = _push(client, appointment)
        except CalendarError as exc:
            return _sync_failed(appointment, exc, now=now)

        if appointment.status == AppointmentStatus.CANCELLED:
            Appointment.objects.filter(pk=appointment.pk).update(
                calendar_sync_state=CalendarSyncState.SYNCED,
                calendar_synced_version=target_version,
                calendar_sync_attempts=0,
                calendar_next_attempt_at=None,
                calendar_sync_error="",
                updated_at=now,
            )
            return "deleted"
        link = meet_link_of(event) or appointment.meeting_link
        values = {
            "google_event_id": event.get("id") or appointment.calendar_event_uid,
            "meeting_link": link,
            "calendar_sync_attempts": 0,
            "calendar_sync_error": "",
            "updated_at": now,
        }
        if not link and conference_pending(event):
            values.update(
                calendar_sync_state=CalendarSyncState.PENDING,
                calendar_next_attempt_at=now + CONFERENCE_PENDING_RECHECK,
            )
            Appointment.objects.filter(pk=appointment.pk).update(**values)
            return "retry"
        values.update(
            calendar_sync_state=CalendarSyncState.SYNCED,
            calendar_synced_version=target_version,
            calendar_next_attempt_at=None,
        )
        Appointment.objects.filter(pk=appointment.pk).update(**values)
    if link and link != appointment.meeting_link:
        publish("appointment.meeting_link", appointment_id=appointment.pk, meeting_link=link)
    return "synced"


def _sync_failed(appointment: Appointment, exc: CalendarError, *, now: datetime) -> str:
    attempts = appointment.calendar_sync_attempts + 1
    give_up = not exc.retryable or attempts >= CALENDAR_MAX_ATTEMPTS
    logger.warning("calendar sync of appointment %s failed (attempt %s): %s", appointment.pk, attempts, exc)
    Appointment.objects.filter(pk=appointment.pk).update(
        calendar_sync_attempts=F("calendar_sync_attempts") + 1,
        calendar_sync_error=str(exc)[:500],
        calendar_sync_state=CalendarSyncState.FAILED if give_up else CalendarSyncState.PENDING,
        calendar_next_attempt_at=None if give_up else now + _backoff(attempts),
        updated_at=now,
    )
    if give_up:
        notification_create(
            recipients=owners_list(),
            kind=NotificationKind.CALENDAR_SYNC_FAILED,
            title=f"Google Calendar did not take the appointment '{appointment.title}'",
            body=str(exc),
            appointment=appointment,
        )
        return "failed"
    return "retry"


def appointments_calendar_sync_due(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Appointments whose calendar sync is waiting for a retry that is now due."""
    now = now or timezone.now()
    due = Appointment.objects.filter(
        calendar_sync_state=CalendarSyncState.PENDING, calendar_synced_version__lt=F("calendar_sync_version")
    ).exclude(calendar_next_attempt_at__gt=now)
    return list(due.order_by("calendar_next_attempt_at", "id").values_list("pk", flat=True)[:limit])
