"""Bulk actions of the leads board: move or assign many selected leads at once.

Each lead goes through the same service as a single one (``lead_transition``, ``lead_update``)
in its own transaction, so the moves the pipeline allows happen and each refused one comes
back with its own reason; nothing is all-or-nothing. Leads the user may not see are refused
as not found (``leads.selectors.lead_list``). Call inside the tenant's schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bizmitra.errors import ApplicationError, ValidationFailed
from leads.choices import LeadStage
from leads.selectors import lead_list
from leads.services.leads import lead_transition, lead_update

MAX_BULK = 200


@dataclass(frozen=True)
class BulkResult:
    """What happened to one selected lead."""

    lead_id: int
    name: str
    ok: bool
    reason: str = ""


def _selected(*, user, lead_ids: Iterable) -> tuple[list, list[BulkResult]]:
    ids: list[int] = []
    for value in lead_ids:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ValidationFailed(
                f"'{value}' is not a lead id.", fields={"lead": ["Select leads on the board."]}
            ) from None
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ValidationFailed("Select at least one lead.", fields={"lead": ["Select at least one lead."]})
    if len(ids) > MAX_BULK:
        raise ValidationFailed(
            f"At most {MAX_BULK} leads at a time.", fields={"lead": [f"Select at most {MAX_BULK} leads."]}
        )
    found = {lead.pk: lead for lead in lead_list(user=user).select_related("contact").filter(pk__in=ids)}
    missing = [
        BulkResult(lead_id=pk, name=f"lead {pk}", ok=False, reason="Not found, or not a lead you may change.")
        for pk in ids
        if pk not in found
    ]
    return [found[pk] for pk in ids if pk in found], missing


def leads_bulk_move(*, user, lead_ids: Iterable, to: str, actor, reason: str = "") -> list[BulkResult]:
    """Move each selected lead to ``to`` where the pipeline allows it; one result per lead, in
    the order selected (refused ones last). A bad stage or a loss without a reason refuses the
    whole request (``ValidationFailed`` naming ``to`` or ``reason``) before anything moves."""
    if to not in LeadStage.values:
        raise ValidationFailed(f"'{to}' is not a pipeline stage.", fields={"to": ["Pick a stage to move to."]})
    reason = (reason or "").strip()
    if to == LeadStage.LOST and not reason:
        raise ValidationFailed(
            "Say why these leads were lost.", fields={"reason": ["Required when marking leads lost."]}
        )
    leads, results = _selected(user=user, lead_ids=lead_ids)
    done = []
    for lead in leads:
        try:
            lead_transition(lead=lead, to=to, actor=actor, reason=reason)
        except ApplicationError as exc:
            results.append(BulkResult(lead_id=lead.pk, name=lead.display_name, ok=False, reason=exc.message))
        else:
            done.append(BulkResult(lead_id=lead.pk, name=lead.display_name, ok=True))
    return done + results


def leads_bulk_assign(*, user, lead_ids: Iterable, agent, actor) -> list[BulkResult]:
    """Give each selected lead to ``agent`` (None: unassigned); one result per lead."""
    leads, results = _selected(user=user, lead_ids=lead_ids)
    done = []
    for lead in leads:
        try:
            lead_update(lead=lead, fields={"assigned_agent": agent}, actor=actor)
        except ApplicationError as exc:
            results.append(BulkResult(lead_id=lead.pk, name=lead.display_name, ok=False, reason=exc.message))
        else:
            done.append(BulkResult(lead_id=lead.pk, name=lead.display_name, ok=True))
    return done + results
