"""Time-driven lead work: the first-contact SLA and templated WhatsApp follow-ups.

Both run from periodic tasks (``leads.tasks``); every row is claimed with a
conditional UPDATE first, so overlapping runs and redelivered tasks act once.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bizmitra.errors import ApplicationError
from bizmitra.events import publish
from leads.choices import FollowUpState, LeadStage, NotificationKind
from leads.models import Lead
from leads.selectors import lead_settings_get, owners_list
from leads.services.leads import FOLLOW_UP_ENDS_AT
from leads.services.notifications import notification_create

logger = logging.getLogger(__name__)

BATCH = 500
# A follow-up claimed this long ago without an outcome was interrupted (worker died);
# sending again is safe because message_send deduplicates on the idempotency key.
FOLLOW_UP_CLAIM_TIMEOUT = timedelta(minutes=10)


def _responsible(lead: Lead) -> list:
    people = owners_list()
    if lead.assigned_agent_id and all(u.pk != lead.assigned_agent_id for u in people):
        people.append(lead.assigned_agent)
    return people


def lead_sla_check(*, now: datetime | None = None) -> int:
    """Flag leads still 'new' past the tenant's first-contact window; returns how many."""
    now = now or timezone.now()
    minutes = lead_settings_get().first_contact_sla_minutes
    if not minutes:
        return 0
    cutoff = now - timedelta(minutes=minutes)
    overdue = Lead.objects.filter(stage=LeadStage.NEW, sla_breached_at__isnull=True, created_at__lte=cutoff)
    flagged = 0
    for lead_id in overdue.order_by("created_at").values_list("pk", flat=True)[:BATCH]:
        flagged += _lead_sla_flag(lead_id=lead_id, now=now, minutes=minutes)
    return flagged


@transaction.atomic
def _lead_sla_flag(*, lead_id: int, now: datetime, minutes: int) -> bool:
    claimed = Lead.objects.filter(pk=lead_id, stage=LeadStage.NEW, sla_breached_at__isnull=True).update(
        sla_breached_at=now, updated_at=now
    )
    if not claimed:
        return False
    lead = Lead.objects.select_related("assigned_agent", "contact").get(pk=lead_id)
    waited = int((now - lead.created_at).total_seconds() // 60)
    notification_create(
        recipients=_responsible(lead),
        kind=NotificationKind.SLA_BREACHED,
        title=f"{lead.display_name} has waited {waited} min for a first contact",
        body=f"The first-contact target is {minutes} minutes. Reach out and move the lead to 'contacted'.",
        lead=lead,
    )
    publish("lead.sla_breached", lead_id=lead.pk, sla_minutes=minutes, waited_minutes=waited)
    return True


def lead_follow_ups_due(*, now: datetime | None = None) -> list[int]:
    """Ids of leads whose follow-up is due, or whose send was interrupted."""
    now = now or timezone.now()
    due = Lead.objects.filter(
        Q(follow_up_state=FollowUpState.SCHEDULED, follow_up_at__lte=now)
        | Q(follow_up_state=FollowUpState.SENDING, follow_up_claimed_at__lt=now - FOLLOW_UP_CLAIM_TIMEOUT)
    )
    return list(due.order_by("follow_up_at").values_list("pk", flat=True)[:BATCH])


def lead_follow_up_claim(*, lead_id: int, now: datetime | None = None) -> Lead | None:
    """Take the lead's due follow-up for sending; None if it is not due or someone else has it.

    Autocommitted on its own, so a concurrent run sees the claim at once.
    """
    now = now or timezone.now()
    claimable = Q(follow_up_state=FollowUpState.SCHEDULED) | Q(
        follow_up_state=FollowUpState.SENDING, follow_up_claimed_at__lt=now - FOLLOW_UP_CLAIM_TIMEOUT
    )
    claimed = (
        Lead.objects.filter(claimable, pk=lead_id, follow_up_at__lte=now)
        .filter(follow_up_at__isnull=False)
        .update(follow_up_state=FollowUpState.SENDING, follow_up_claimed_at=now)
    )
    if not claimed:
        return None
    return Lead.objects.select_related("contact", "assigned_agent").get(pk=lead_id)


def _template_content(lead: Lead, settings) -> dict:
    content: dict = {
        "name": settings.follow_up_template_name,
        "language": {"code": settings.follow_up_template_language},
    }
    if settings.follow_up_template_params:
        parameters = [
            {"type": "text", "text": str(getattr(lead, field, "") or lead.display_name)}
            for field in settings.follow_up_template_params
        ]
        content["components"] = [{"type": "body", "parameters": parameters}]
    return content


def _follow_up_finish(lead: Lead, *, due_at: datetime, **values) -> bool:
    # Only if the follow-up was not rescheduled meanwhile (a new time is a new follow-up).
    return bool(
        Lead.objects.filter(pk=lead.pk, follow_up_at=due_at, follow_up_state=FollowUpState.SENDING).update(**values)
    )


@transaction.atomic
def _follow_up_fail(lead: Lead, *, due_at: datetime, reason: str) -> None:
    if not _follow_up_finish(lead, due_at=due_at, follow_up_state=FollowUpState.FAILED, follow_up_error=reason[:255]):
        return
    notification_create(
        recipients=[lead.assigned_agent] if lead.assigned_agent_id else owners_list(),
        kind=NotificationKind.FOLLOW_UP_FAILED,
        title=f"Follow-up to {lead.display_name} was not sent",
        body=reason,
        lead=lead,
    )
    publish("lead.follow_up_failed", lead_id=lead.pk, reason=reason)


def lead_follow_up_send(*, lead_id: int, now: datetime | None = None) -> str:
    """Send a lead's due follow-up template once; returns the outcome.

    Outcomes: "sent", "failed" (recorded on the lead, agent notified),
    "cancelled" (the lead is lost or paid), "skipped" (not due or claimed elsewhere).
    """
    lead = lead_follow_up_claim(lead_id=lead_id, now=now)
    if lead is None:
        return "skipped"
    due_at = lead.follow_up_at
    if lead.stage in FOLLOW_UP_ENDS_AT:
        _follow_up_finish(lead, due_at=due_at, follow_up_state=FollowUpState.CANCELLED)
        return "cancelled"
    settings = lead_settings_get()
    if not settings.follow_up_template_name:
        _follow_up_fail(lead, due_at=due_at, reason="No follow-up template is set in the lead settings.")
        return "failed"
    if not lead.recipient:
        _follow_up_fail(lead, due_at=due_at, reason="The lead has no WhatsApp contact or phone number.")
        return "failed"

    from conversations.services.outbound import DuplicateMessage, message_send

    try:
        with transaction.atomic():
            try:
                message_id = message_send(
                    to=lead.recipient,
                    type="template",
                    content=_template_content(lead, settings),
                    idempotency_key=f"followup:{lead.pk}:{due_at.isoformat()}",
                ).pk
            except DuplicateMessage as exc:
                # An interrupted earlier attempt already queued it: record that one, send nothing.
                message_id = exc.message_id
            _follow_up_finish(
                lead,
                due_at=due_at,
                follow_up_state=FollowUpState.SENT,
                follow_up_sent_at=timezone.now(),
                follow_up_message_id=message_id,
                follow_up_error="",
            )
    except ApplicationError as exc:
        _follow_up_fail(lead, due_at=due_at, reason=exc.message)
        return "failed"
    publish("lead.follow_up_sent", lead_id=lead.pk, message_id=message_id)
    return "sent"
