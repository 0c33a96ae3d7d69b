"""Reactions to domain events: scoring from inbound messages, first contact by an agent,
live dashboard pushes. (The workflows a lead or an appointment sets off are the workflows
app's: ``workflows.listeners``.)"""

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


@listens_to("messages.received")
def score_inbound_message(*, event_name: str, schema_name: str, message_ids: list[int], **payload) -> None:
    """Score a stored webhook part's messages in a task on the default queue: run here, in the
    ingest task, it cost four statements a message and set the speed of the whole ingest
    (bench/ingest_bulk.py, issue 9)."""
    from leads.tasks import lead_signals_score_task

    with schema_context(schema_name):
        lead_signals_score_task.delay(message_ids=message_ids)


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
