"""What the engine needs from apps above it, without importing them (apps depend one way:
leads sits above conversations). The leads app plugs its functions in from its
``AppConfig.ready``; without it the engine works with no lead at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _no_lead(contact) -> None:
    return None


def _no_capture(*, contact, fields: dict[str, str], actor: str) -> str:
    return "lead capture is not available"


# (contact) -> the contact's lead or None: fills {{lead.*}} variables in templates.
lead_for_contact: Callable[[Any], Any] = _no_lead
# Reverse one-to-one relations of Contact that the engine joins when it reads a message
# (``select_related``), so ``lead_for_contact`` costs no query of its own.
contact_relations: tuple[str, ...] = ()
# (contact=, fields=, actor=) -> "" when saved, else a reason: "lead:<field>" flow states.
lead_fields_capture: Callable[..., str] = _no_capture


def install(
    *, lead_getter: Callable[[Any], Any], lead_capturer: Callable[..., str], relations: tuple[str, ...] = ()
) -> None:
    global lead_for_contact, lead_fields_capture, contact_relations
    lead_for_contact = lead_getter
    lead_fields_capture = lead_capturer
    contact_relations = relations
