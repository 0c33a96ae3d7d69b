"""The workflows a lead sets off: ``lead_captured`` when a lead is created, and the
appointment workflows (confirmation, reminder, rescheduled, cancelled) when one is booked,
moved or cancelled. Workflows sits above leads, so it reacts to the leads' domain events
(``workflows.listeners``) and reads the lead itself; leads never imports workflows.
Call inside the tenant's schema.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction

from bizmitra.errors import Conflict, ValidationFailed
from leads.choices import ACTIVE_APPOINTMENT_STATUSES, NotificationKind
from leads.models import Appointment, Lead
from leads.selectors import owners_list
from leads.services.notifications import notification_create
from tenants.selectors import tenant_timezone
from workflows.choices import StandardTrigger
from workflows.models import CommunicationWorkflow
from workflows.services.triggers import workflow_trigger_fire

logger = logging.getLogger(__name__)

LEAD_CAPTURED = StandardTrigger.LEAD_CAPTURED.value
# The trigger's variables (an object: rules map them by name, templates use {{name}} …).
LEAD_VARIABLES = ("name", "email", "phone", "location", "product_interest", "source")

# What each appointment event fires, and whether its baseTime is the start. Confirmations
# go out relative to the booking; reminders relative to the start, so they move with the
# appointment (appointment_rescheduled) and are dropped when it is cancelled
# (appointment_cancelled, by moduleId).
APPOINTMENT_TRIGGERS = {
    "booked": (("appointment_confirmed", False), ("appointment_reminder", True)),
    "rescheduled": (("appointment_rescheduled", True),),
    "cancelled": (("appointment_cancelled", False),),
}


def lead_phone(lead: Lead) -> str:
    """The E.164 number workflows address the lead by: its phone, else its contact's; "" if none."""
    if lead.phone:
        return lead.phone
    recipient = lead.contact.recipient if lead.contact_id else ""
    return recipient if recipient.startswith("+") else ""  # a username-only contact has no number


def lead_captured_workflows_fire(*, lead_id: int) -> int | None:
    """Fire ``lead_captured`` for a new lead; returns the workflow trigger id, None when nothing fired.

    Nothing fires for a lead without a phone number, or when the tenant has no active
    ``lead_captured`` rule (no trigger record for every lead). The idempotency key is the
    lead's, so a redelivered event or task schedules nothing twice. A refusal (e.g. an email
    rule for a lead without email) is logged and the owners are notified.
    """
    lead = Lead.objects.select_related("contact__conversation").filter(pk=lead_id).first()
    if lead is None:
        return None
    phone = lead_phone(lead)
    if not phone or not CommunicationWorkflow.objects.filter(trigger=LEAD_CAPTURED, is_active=True).exists():
        return None
    conversation = getattr(lead.contact, "conversation", None) if lead.contact_id else None
    return _fire_and_notify(
        trigger=LEAD_CAPTURED,
        phone=phone,
        variables={name: str(getattr(lead, name) or "") for name in LEAD_VARIABLES},
        email=lead.email,
        conversation_id=conversation.pk if conversation else None,
        module=("lead", lead.pk),
        idempotency_key=f"lead:{lead.pk}:{LEAD_CAPTURED}",
        failure_title=f"Messages for new lead {lead.display_name} were not scheduled",
        notify={"lead": lead},
    )


def appointment_workflows_fire(*, appointment_id: int, event: str, stamp: str = "") -> list[int]:
    """Fire the tenant's workflow triggers for an appointment event.

    ``event`` is booked, rescheduled or cancelled. Runs under the appointment's row
    lock so a booking and its quick cancellation are applied in order; a booking
    or move of an appointment that is no longer active fires nothing. Returns the
    ids of the workflow trigger records created (none for a replay).
    """
    fired: list[int] = []
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("lead", "contact")
            .filter(pk=appointment_id)
            .first()
        )
        if appointment is None or event not in APPOINTMENT_TRIGGERS:
            return fired
        if event != "cancelled" and appointment.status not in ACTIVE_APPOINTMENT_STATUSES:
            return fired
        phone = appointment.recipient
        if not phone.startswith("+"):
            return fired  # a username-only WhatsApp contact: workflows address people by phone
        conversation = getattr(appointment.contact, "conversation", None) if appointment.contact_id else None
        variables = _appointment_variables(appointment)
        for trigger, relative_to_start in APPOINTMENT_TRIGGERS[event]:
            key = f"appointment:{appointment.pk}:{trigger}" + (f":{stamp}" if stamp else "")
            trigger_id = _fire_and_notify(
                trigger=trigger,
                phone=phone,
                variables=variables,
                email=appointment.lead.email if appointment.lead_id else "",
                conversation_id=conversation.pk if conversation else None,
                module=("appointment", appointment.pk),
                idempotency_key=key[:255],
                base_time=appointment.start_at if relative_to_start else None,
                # A "1 day before" reminder of an appointment booked for in 2 hours goes out
                # now rather than making the whole trigger fail.
                allow_late=True,
                failure_title=f"Messages for appointment '{appointment.title}' were not scheduled",
                notify={"appointment": appointment},
            )
            if trigger_id is not None:
                fired.append(trigger_id)
    return fired


# --- internals ----------------------------------------------------------------------------


def _fire_and_notify(
    *,
    trigger: str,
    phone: str,
    variables: dict[str, Any],
    email: str,
    conversation_id: int | None,
    module: tuple[str, int],
    idempotency_key: str,
    failure_title: str,
    notify: dict[str, Any],
    base_time: datetime | None = None,
    allow_late: bool = False,
) -> int | None:
    """Fire one trigger for a lead's or appointment's event; the trigger record's id, None
    for a replay. A refusal is logged and told to the owners (a notification on the lead or
    appointment, ``notify``), never raised: the event that set it off already happened."""
    module_type, module_pk = module
    try:
        with transaction.atomic():
            result = workflow_trigger_fire(
                trigger=trigger,
                phone=phone,
                variables=variables,
                email=email,
                conversation_id=conversation_id,
                base_time=base_time,
                callback_metadata={"moduleId": f"{module_type}:{module_pk}", "moduleType": module_type},
                idempotency_key=idempotency_key,
                allow_late=allow_late,
            )
    except Conflict:
        return None  # our own key with other values: this event was already fired
    except ValidationFailed as exc:
        logger.warning("workflows refused %s for %s %s: %s", trigger, module_type, module_pk, exc.fields)
        notification_create(
            recipients=owners_list(),
            kind=NotificationKind.WORKFLOW_FAILED,
            title=failure_title,
            body=f"{exc.message} {exc.fields}",
            **notify,
        )
        return None
    return None if result.duplicate else result.trigger_event.pk


def _appointment_variables(appointment: Appointment) -> dict[str, Any]:
    local = appointment.start_at.astimezone(tenant_timezone())
    name = appointment.lead.display_name if appointment.lead_id else str(appointment.contact or "")
    return {
        "name": name,
        "title": appointment.title,
        "date": f"{local:%d %b %Y}",
        "time": f"{local:%H:%M}",
        "start_at": appointment.start_at.isoformat(),
        "end_at": appointment.end_at.isoformat(),
        "meeting_link": appointment.meeting_link,
        "appointment_id": appointment.pk,
    }
