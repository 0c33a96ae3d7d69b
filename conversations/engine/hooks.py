"""What the engine needs from apps above it, without importing them (apps depend one way:
leads sits above conversations). The leads app plugs its functions in from its
``AppConfig.ready``; without it the engine works with no lead at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The lead fields the engine may ask leads to save, by the words flows (``lead:<word>``
# states) and the AI's capture_lead tool use for them; the values are Lead field names.
LEAD_FIELD_ALIASES = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "location": "location",
    "city": "location",
    "interest": "product_interest",
    "product_interest": "product_interest",
}


class LeadsUnavailable(Exception):
    """No leads app is installed: nothing can be saved on a lead."""


def _no_lead(contact) -> None:
    return None


def _no_capture(*, contact, fields: dict[str, str], actor: str) -> str:
    return "lead capture is not available"


def _no_save(*, contact, fields: dict[str, str], actor: str):
    raise LeadsUnavailable("lead capture is not available")


# (contact) -> the contact's lead or None: fills {{lead.*}} variables in templates.
lead_for_contact: Callable[[Any], Any] = _no_lead
# Reverse one-to-one relations of Contact that the engine joins when it reads a message
# (``select_related``), so ``lead_for_contact`` costs no query of its own.
contact_relations: tuple[str, ...] = ()
# (contact=, fields=, actor=) -> "" when saved, else a reason: "lead:<field>" flow states.
lead_fields_capture: Callable[..., str] = _no_capture
# (contact=, fields=, actor=) -> the saved lead (``.pk``, ``.stage``); raises the leads app's
# ``ValidationFailed`` for bad values, ``LeadsUnavailable`` without it: the AI's capture_lead.
lead_save: Callable[..., Any] = _no_save


def install(
    *,
    lead_getter: Callable[[Any], Any],
    lead_capturer: Callable[..., str],
    lead_saver: Callable[..., Any] = _no_save,
    relations: tuple[str, ...] = (),
) -> None:
    global lead_for_contact, lead_fields_capture, lead_save, contact_relations
    lead_for_contact = lead_getter
    lead_fields_capture = lead_capturer
    lead_save = lead_saver
    contact_relations = relations
