"""What the conversation engine asks of the leads app (plugged in by ``LeadsConfig.ready``
through ``conversations.engine.hooks``: conversations sits below leads and never imports it)."""

from __future__ import annotations

from bizmitra.errors import ValidationFailed
from conversations.models import Contact
from leads.choices import LeadSource
from leads.selectors import lead_for_contact
from leads.services import lead_capture

# Contact.lead (Lead.contact's related name): the engine joins it when it reads a message.
CONTACT_RELATIONS = ("lead",)


def contact_lead(contact):
    """The contact's lead, for ``{{lead.*}}`` variables; None when there is none. No query
    when the engine joined it already (``CONTACT_RELATIONS``)."""
    if Contact.lead.is_cached(contact):
        return getattr(contact, "lead", None)
    return lead_for_contact(contact_id=contact.pk)


def contact_lead_save(*, contact, fields: dict[str, str], actor: str):
    """Save what the AI's capture_lead tool gathered; the lead. Raises ``ValidationFailed``."""
    return lead_capture(contact=contact, fields=fields, source=LeadSource.WHATSAPP, actor=actor)


def contact_lead_fields_capture(*, contact, fields: dict[str, str], actor: str) -> str:
    """Save what the customer typed in a ``lead:<field>`` flow state; "" when saved, else why not."""
    try:
        contact_lead_save(contact=contact, fields=fields, actor=actor)
    except ValidationFailed as exc:
        return exc.message
    return ""
