"""Leads reacts to ``document.processed``: an email, phone or name read from a document the
customer sent fills the blanks of their lead, when the tenant turned that on.

The event carries what is needed (``fill_lead`` and the values), so leads never imports
documents. Only empty lead fields are filled: what the customer or an agent typed wins
over what was read from a photo.
"""

import logging

from django_tenants.utils import schema_context

from bizmitra.errors import ApplicationError
from bizmitra.events import listens_to

logger = logging.getLogger(__name__)

FILLABLE = ("email", "phone", "name")


@listens_to("document.processed")
def fill_lead_from_document(
    *,
    event_name: str,
    schema_name: str,
    contact_id: int | None = None,
    fill_lead: bool = False,
    fields: dict | None = None,
    document_id: int | None = None,
    **payload,
) -> None:
    if not fill_lead or not contact_id or not fields:
        return
    from conversations.models import Contact
    from leads.models import Lead
    from leads.services.leads import lead_capture

    with schema_context(schema_name):
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            return
        lead = Lead.objects.filter(contact=contact).first()
        wanted = {k: v for k, v in fields.items() if k in FILLABLE and v and not (lead and getattr(lead, k))}
        if not wanted:
            return
        actor = f"document:{document_id}"
        try:
            lead_capture(contact=contact, fields=wanted, source="whatsapp", actor=actor)
        except ApplicationError as exc:
            # e.g. the phone on the invoice belongs to another lead: keep the rest.
            wanted.pop("phone", None)
            logger.info("document %s: lead fill without phone (%s)", document_id, exc.message)
            if wanted:
                lead_capture(contact=contact, fields=wanted, source="whatsapp", actor=actor)
