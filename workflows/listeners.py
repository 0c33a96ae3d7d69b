"""Reactions of workflows to the leads' domain events: ``lead_captured`` when a lead is
created, the appointment workflows when one is booked, moved or cancelled. In tasks: they
retry, and never slow a capture or a booking. (Leads sits below workflows and never imports it.)"""

from django_tenants.utils import schema_context

from bizmitra.events import listens_to


@listens_to("appointment.booked", "appointment.rescheduled", "appointment.cancelled")
def start_appointment_workflows(*, event_name: str, schema_name: str, appointment_id: int, **payload) -> None:
    from workflows.tasks import appointment_workflows_fire_task

    event = event_name.split(".", 1)[1]
    stamp = payload.get("changed_at", "") if event == "rescheduled" else ""
    with schema_context(schema_name):
        appointment_workflows_fire_task.delay(appointment_id=appointment_id, event=event, stamp=stamp)


@listens_to("lead.created")
def start_lead_captured_workflows(*, event_name: str, schema_name: str, lead_id: int, **payload) -> None:
    from workflows.tasks import lead_captured_workflows_fire_task

    with schema_context(schema_name):
        lead_captured_workflows_fire_task.delay(lead_id=lead_id)
