"""Reactions to domain events: scoring from inbound messages, first contact by an agent,
live dashboard pushes, the reminder workflows of appointments and ``lead_captured``."""

import logging

from django_tenants.utils import schema_context

from bizmitra.events import broadcast_live, listens_to

logger = logging.getLogger(__name__)

LIVE_EVENTS = (
    "lead.created",
    "lead.updated",
    "lead.transitioned",
    "lead.qualified",
    "lead.scored",
    "lead.sla_breached",
    "lead.follow_up_sent",
    "lead.follow_up_failed",
    "notification.created",
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.cancelled",
    "appointment.completed",
    "appointment.meeting_link",
)


@listens_to("message.received")
def score_inbound_message(*, event_name: str, schema_name: str, message_id: int, **payload) -> None:
    from leads.services import lead_signals_from_message

    with schema_context(schema_name):
        lead_signals_from_message(message_id=message_id)


@listens_to("message.queued")
def mark_contacted_on_agent_message(*, event_name: str, schema_name: str, message_id: int, **payload) -> None:
    from leads.services.leads import lead_contacted_by_message

    if payload.get("sent_by_id", 0) is None:
        return  # a bot, workflow or API message: not a first contact by a person (no query)
    with schema_context(schema_name):
        lead_contacted_by_message(message_id=message_id)


@listens_to(*LIVE_EVENTS)
def push_to_live_dashboard(*, event_name: str, schema_name: str, **payload) -> None:
    broadcast_live(schema_name=schema_name, event={"event": event_name, **payload})


@listens_to("appointment.booked", "appointment.rescheduled", "appointment.cancelled")
def start_appointment_workflows(*, event_name: str, schema_name: str, appointment_id: int, **payload) -> None:
    """Let the tenant's reminder workflows follow the appointment (in a task: it retries, and never slows a booking)."""
    from leads.tasks import appointment_workflows_fire_task

    event = event_name.split(".", 1)[1]
    stamp = payload.get("changed_at", "") if event == "rescheduled" else ""
    with schema_context(schema_name):
        appointment_workflows_fire_task.delay(appointment_id=appointment_id, event=event, stamp=stamp)


@listens_to("lead.created")
def start_lead_captured_workflows(*, event_name: str, schema_name: str, lead_id: int, **payload) -> None:
    """Fire the tenant's ``lead_captured`` workflows (in a task: it retries, and never slows a capture)."""
    from leads.tasks import lead_captured_workflows_fire_task

    with schema_context(schema_name):
        lead_captured_workflows_fire_task.delay(lead_id=lead_id)
