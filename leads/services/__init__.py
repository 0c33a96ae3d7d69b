"""Writes of the leads app, one module per subdomain; the public names are re-exported here."""

from leads.services.appointments import (
    appointment_book,
    appointment_cancel,
    appointment_complete,
    appointment_reschedule,
)
from leads.services.bulk import BulkResult, leads_bulk_assign, leads_bulk_move
from leads.services.calendar_sync import appointment_calendar_sync, appointments_calendar_sync_due
from leads.services.follow_ups import lead_follow_up_send, lead_follow_ups_due, lead_sla_check
from leads.services.leads import lead_capture, lead_create, lead_transition, lead_update
from leads.services.notifications import notification_mark_read
from leads.services.periodic import leads_periodic_tasks_ensure
from leads.services.scoring import lead_signal_record, lead_signals_from_message, lead_signals_from_messages

__all__ = [
    "BulkResult",
    "appointment_book",
    "appointment_calendar_sync",
    "appointment_cancel",
    "appointment_complete",
    "appointment_reschedule",
    "appointments_calendar_sync_due",
    "lead_capture",
    "lead_create",
    "lead_follow_up_send",
    "lead_follow_ups_due",
    "lead_signal_record",
    "lead_signals_from_message",
    "lead_signals_from_messages",
    "lead_sla_check",
    "lead_transition",
    "lead_update",
    "leads_bulk_assign",
    "leads_bulk_move",
    "leads_periodic_tasks_ensure",
    "notification_mark_read",
]
