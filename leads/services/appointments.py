"""Appointments: booking, rescheduling, cancelling, and the tenant's reminder workflows.

Bookings are rows first; the Google Calendar call happens in a task after commit
(``leads.services.calendar_sync``), so a slow or failing Google never fails a
booking. Without calendar settings nothing is sent.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from bizmitra.errors import Conflict, NotFound, ValidationFailed
from bizmitra.events import publish
from leads.choices import (
    ACTIVE_APPOINTMENT_STATUSES,
    AppointmentStatus,
    CalendarSyncState,
    SignalKind,
)
from leads.models import Appointment, Lead
from leads.selectors import google_calendar_settings_get, lead_for_contact
from leads.services.common import actor_resolve
from leads.services.scoring import lead_signal_record

logger = logging.getLogger(__name__)

DEFAULT_DURATION = timedelta(minutes=30)
MAX_DURATION = timedelta(hours=12)


def _check_times(start_at: datetime, end_at: datetime) -> None:
    errors = {}
    if timezone.is_naive(start_at):
        errors["start_at"] = ["Give a time zone offset (e.g. +05:30 or Z)."]
    if timezone.is_naive(end_at):
        errors["end_at"] = ["Give a time zone offset (e.g. +05:30 or Z)."]
    if errors:
        raise ValidationFailed("Appointment times need a time zone.", fields=errors)
    if end_at <= start_at:
        raise ValidationFailed(
            "The appointment must end after it starts.", fields={"end_at": ["Must be after start_at."]}
        )
    if end_at - start_at > MAX_DURATION:
        raise ValidationFailed(
            "An appointment lasts at most 12 hours.", fields={"end_at": ["At most 12 hours after start."]}
        )


def _event_payload(appointment: Appointment) -> dict:
    return {
        "appointment_id": appointment.pk,
        "lead_id": appointment.lead_id,
        "contact_id": appointment.contact_id,
        "phone": appointment.recipient,
        "start_at": appointment.start_at.isoformat(),
        "end_at": appointment.end_at.isoformat(),
        "status": appointment.status,
        # Distinguishes two reschedules of one appointment (idempotency of the workflow trigger).
        "changed_at": timezone.now().isoformat(),
    }


def _calendar_sync_enqueue(appointment: Appointment) -> None:
    from leads.tasks import appointment_calendar_sync_task

    appointment_id = appointment.pk
    transaction.on_commit(lambda: appointment_calendar_sync_task.delay(appointment_id=appointment_id))


def _calendar_sync_request(appointment: Appointment) -> list[str]:
    """Mark that Google must catch up with this appointment; returns the changed fields."""
    if google_calendar_settings_get() is None:
        return []
    appointment.calendar_sync_version += 1
    appointment.calendar_sync_state = CalendarSyncState.PENDING
    appointment.calendar_sync_attempts = 0
    appointment.calendar_next_attempt_at = None
    appointment.calendar_sync_error = ""
    return [
        "calendar_sync_version",
        "calendar_sync_state",
        "calendar_sync_attempts",
        "calendar_next_attempt_at",
        "calendar_sync_error",
    ]


@transaction.atomic
def appointment_book(
    *,
    start_at: datetime,
    actor,
    end_at: datetime | None = None,
    lead: Lead | None = None,
    contact=None,
    title: str = "",
    notes: str = "",
) -> Appointment:
    """Book an appointment with a lead or contact (30 minutes unless ``end_at`` says otherwise).

    Publishes ``appointment.booked`` (reminder workflows start from it), scores the
    lead, and queues the Google Calendar event when the tenant has a calendar.
    """
    if lead is None and contact is None:
        raise ValidationFailed("Say who the appointment is with.", fields={"lead": ["Give a lead or a contact."]})
    end_at = end_at or start_at + DEFAULT_DURATION
    _check_times(start_at, end_at)
    if lead is not None and contact is None:
        contact = lead.contact
    if contact is not None and lead is None:
        lead = lead_for_contact(contact_id=contact.pk)
    if lead is not None and contact is not None and lead.contact_id not in (None, contact.pk):
        raise ValidationFailed(
            "That lead belongs to another contact.", fields={"contact": ["Does not match the lead."]}
        )
    _, label = actor_resolve(actor)
    appointment = Appointment(
        lead=lead,
        contact=contact,
        title=(title or "").strip()[:200] or "Appointment",
        notes=notes or "",
        start_at=start_at,
        end_at=end_at,
        booked_by=label,
    )
    _calendar_sync_request(appointment)
    appointment.save()
    if lead is not None:
        lead_signal_record(
            lead=lead,
            kind=SignalKind.APPOINTMENT_BOOKED,
            detail=f"booked for {timezone.localtime(start_at):%Y-%m-%d %H:%M}",
            dedupe_key=f"appointment:{appointment.pk}",
        )
    publish("appointment.booked", **_event_payload(appointment))
    if appointment.calendar_sync_state == CalendarSyncState.PENDING:
        _calendar_sync_enqueue(appointment)
    return appointment


def _lock(appointment: Appointment) -> Appointment:
    locked = Appointment.objects.select_for_update().filter(pk=appointment.pk).first()
    if locked is None:
        raise NotFound(f"Appointment {appointment.pk} does not exist.")
    return locked


@transaction.atomic
def appointment_reschedule(
    *,
    appointment: Appointment,
    actor,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    title: str | None = None,
    notes: str | None = None,
) -> Appointment:
    """Move an active appointment (keeping its length unless ``end_at`` is given) or edit its text."""
    locked = _lock(appointment)
    if locked.status not in ACTIVE_APPOINTMENT_STATUSES:
        raise Conflict(f"A {locked.status} appointment cannot be changed.", extra={"status": locked.status})
    new_start = start_at or locked.start_at
    new_end = end_at or (new_start + (locked.end_at - locked.start_at) if start_at else locked.end_at)
    _check_times(new_start, new_end)
    changed: list[str] = []
    moved = (new_start, new_end) != (locked.start_at, locked.end_at)
    if moved:
        locked.start_at, locked.end_at = new_start, new_end
        locked.status = AppointmentStatus.RESCHEDULED
        changed += ["start_at", "end_at", "status"]
    if title is not None and title.strip() and title.strip()[:200] != locked.title:
        locked.title = title.strip()[:200]
        changed.append("title")
    if notes is not None and notes != locked.notes:
        locked.notes = notes
        changed.append("notes")
    if not changed:
        return locked
    if moved or "title" in changed or "notes" in changed:
        changed += _calendar_sync_request(locked)
    locked.save(update_fields=[*changed, "updated_at"])
    if moved:
        _, label = actor_resolve(actor)
        publish("appointment.rescheduled", actor=label, **_event_payload(locked))
    if locked.calendar_sync_state == CalendarSyncState.PENDING and "calendar_sync_version" in changed:
        _calendar_sync_enqueue(locked)
    return locked


@transaction.atomic
def appointment_cancel(*, appointment: Appointment, actor, reason: str = "") -> Appointment:
    """Cancel an appointment and delete its calendar event; cancelling twice is a no-op."""
    locked = _lock(appointment)
    if locked.status == AppointmentStatus.CANCELLED:
        return locked
    if locked.status == AppointmentStatus.COMPLETED:
        raise Conflict("A completed appointment cannot be cancelled.", extra={"status": locked.status})
    locked.status = AppointmentStatus.CANCELLED
    locked.cancelled_at = timezone.now()
    locked.cancel_reason = (reason or "").strip()[:500]
    changed = ["status", "cancelled_at", "cancel_reason"]
    ever_synced = locked.google_event_id or locked.calendar_sync_version > 0
    if ever_synced:
        changed += _calendar_sync_request(locked)
    locked.save(update_fields=[*changed, "updated_at"])
    _, label = actor_resolve(actor)
    publish("appointment.cancelled", actor=label, reason=locked.cancel_reason, **_event_payload(locked))
    if ever_synced and locked.calendar_sync_state == CalendarSyncState.PENDING:
        _calendar_sync_enqueue(locked)
    return locked


@transaction.atomic
def appointment_complete(*, appointment: Appointment, actor) -> Appointment:
    locked = _lock(appointment)
    if locked.status == AppointmentStatus.COMPLETED:
        return locked
    if locked.status == AppointmentStatus.CANCELLED:
        raise Conflict("A cancelled appointment cannot be completed.", extra={"status": locked.status})
    locked.status = AppointmentStatus.COMPLETED
    locked.save(update_fields=["status", "updated_at"])
    _, label = actor_resolve(actor)
    publish("appointment.completed", actor=label, **_event_payload(locked))
    return locked
