"""The tenant's workflows that follow a lead: ``lead_captured`` when a lead is created.

(Appointment workflows are in ``services.appointments``.) Call inside the tenant's schema.
"""

import logging

from django.db import transaction

from bizmitra.errors import Conflict, ValidationFailed
from leads.choices import NotificationKind
from leads.models import Lead
from leads.selectors import owners_list
from leads.services.notifications import notification_create
from workflows.choices import StandardTrigger

logger = logging.getLogger(__name__)

LEAD_CAPTURED = StandardTrigger.LEAD_CAPTURED.value
# The trigger's variables (an object: rules map them by name, templates use {{name}} …).
LEAD_VARIABLES = ("name", "email", "phone", "location", "product_interest", "source")


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
    from workflows.models import CommunicationWorkflow
    from workflows.services import workflow_trigger_fire

    lead = Lead.objects.select_related("contact__conversation").filter(pk=lead_id).first()
    if lead is None:
        return None
    phone = lead_phone(lead)
    if not phone or not CommunicationWorkflow.objects.filter(trigger=LEAD_CAPTURED, is_active=True).exists():
        return None
    conversation = getattr(lead.contact, "conversation", None) if lead.contact_id else None
    variables = {name: str(getattr(lead, name) or "") for name in LEAD_VARIABLES}
    try:
        with transaction.atomic():
            result = workflow_trigger_fire(
                trigger=LEAD_CAPTURED,
                phone=phone,
                variables=variables,
                email=lead.email,
                conversation_id=conversation.pk if conversation else None,
                callback_metadata={"moduleId": f"lead:{lead.pk}", "moduleType": "lead"},
                idempotency_key=f"lead:{lead.pk}:{LEAD_CAPTURED}",
            )
    except Conflict:
        return None  # our own key with other values: this lead's trigger already fired
    except ValidationFailed as exc:
        logger.warning("workflows refused %s for lead %s: %s", LEAD_CAPTURED, lead.pk, exc.fields)
        notification_create(
            recipients=owners_list(),
            kind=NotificationKind.WORKFLOW_FAILED,
            title=f"Messages for new lead {lead.display_name} were not scheduled",
            body=f"{exc.message} {exc.fields}",
            lead=lead,
        )
        return None
    return None if result.duplicate else result.trigger_event.pk
