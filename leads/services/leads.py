"""Writes on leads: creation, progressive capture, edits and pipeline transitions."""

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from bizmitra.errors import Conflict, NotFound, ValidationFailed
from bizmitra.events import publish
from leads.choices import CAPTURABLE_FIELDS, FollowUpState, LeadSource, LeadStage, NotificationKind
from leads.models import Lead, LeadSettings, LeadTransition, Tag
from leads.selectors import lead_settings_get, owners_list
from leads.services.common import (
    FieldError,
    actor_resolve,
    normalise_datetime,
    normalise_email,
    normalise_phone,
    normalise_text,
)
from leads.services.notifications import notification_create

AUTO_QUALIFY_ACTOR = "system:auto-qualify"
# Stages from which a complete lead moves to 'qualified' by itself.
AUTO_QUALIFY_FROM = (LeadStage.NEW, LeadStage.CONTACTED)
# A follow-up makes no sense once the deal is over.
FOLLOW_UP_ENDS_AT = (LeadStage.LOST, LeadStage.PAID)

CAPTURE_FIELDS = (*CAPTURABLE_FIELDS, "notes", "follow_up_at")
EDITABLE_FIELDS = (*CAPTURABLE_FIELDS, "notes", "follow_up_at", "assigned_agent", "tags")


def _clean_fields(data: dict, *, allowed: Iterable[str], region: str, keep_blank: bool) -> dict:
    """Validate and normalise lead input; raise ``ValidationFailed`` naming every bad field.

    With ``keep_blank`` False (progressive capture) empty values are dropped, so a
    customer's silence never erases what they said before.
    """
    allowed = tuple(allowed)
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    for field, value in data.items():
        if field not in allowed:
            errors[field] = [f"Unknown lead field; use one of: {', '.join(allowed)}."]
            continue
        blank = value is None or (isinstance(value, str) and not value.strip())
        if blank and not keep_blank:
            continue
        try:
            if field in ("assigned_agent", "tags"):
                cleaned[field] = value
            elif blank:
                cleaned[field] = None if field == "follow_up_at" else ""
            elif field == "email":
                cleaned[field] = normalise_email(value)
            elif field == "phone":
                cleaned[field] = normalise_phone(value, region=region)
            elif field == "follow_up_at":
                cleaned[field] = normalise_datetime(value)
            elif field == "notes":
                cleaned[field] = str(value).strip()
            else:
                cleaned[field] = normalise_text(value, field=field)
        except FieldError as exc:
            errors[field] = [str(exc)]
    if errors:
        raise ValidationFailed("Some lead details are not valid; nothing was saved.", fields=errors)
    return cleaned


def _refuse_unknown_source(source: str) -> None:
    if source not in LeadSource.values:
        raise ValidationFailed(
            f"Unknown lead source '{source}'.", fields={"source": [f"Use one of: {', '.join(LeadSource.values)}."]}
        )


def _phone_owner(phone: str, *, exclude_pk: int | None) -> Lead | None:
    if not phone:
        return None
    leads = Lead.objects.filter(phone=phone)
    if exclude_pk is not None:
        leads = leads.exclude(pk=exclude_pk)
    return leads.first()


def _refuse_taken_phone(phone: str, *, lead_pk: int | None) -> None:
    other = _phone_owner(phone, exclude_pk=lead_pk)
    if other is not None:
        raise Conflict(
            f"Another lead (#{other.pk}) already has the phone number {phone}.",
            fields={"phone": [f"Already used by lead #{other.pk}."]},
            extra={"lead_id": other.pk},
        )


def _follow_up_schedule(lead: Lead, when: datetime | None) -> list[str]:
    """Point the lead's follow-up at ``when`` (None clears it); returns the changed fields."""
    lead.follow_up_at = when
    lead.follow_up_state = FollowUpState.SCHEDULED if when else FollowUpState.NONE
    lead.follow_up_claimed_at = None
    lead.follow_up_error = ""
    return ["follow_up_at", "follow_up_state", "follow_up_claimed_at", "follow_up_error"]


def _apply(lead: Lead, cleaned: dict, *, append_notes: bool) -> list[str]:
    changed: list[str] = []
    for field, value in cleaned.items():
        if field in ("tags", "assigned_agent"):
            continue
        if field == "follow_up_at":
            if value != lead.follow_up_at or lead.follow_up_state in ("", FollowUpState.CANCELLED):
                changed += _follow_up_schedule(lead, value)
            continue
        if field == "notes" and append_notes and lead.notes:
            value = f"{lead.notes}\n{value}"
        if getattr(lead, field) != value:
            setattr(lead, field, value)
            changed.append(field)
    if "assigned_agent" in cleaned and lead.assigned_agent_id != getattr(cleaned["assigned_agent"], "pk", None):
        lead.assigned_agent = cleaned["assigned_agent"]
        changed.append("assigned_agent")
    return changed


def _tags_set(lead: Lead, names: Iterable[str]) -> None:
    tags = []
    for name in {" ".join(str(n).split()).lower() for n in names if str(n).strip()}:
        if len(name) > 64:
            raise ValidationFailed("Tag too long.", fields={"tags": [f"'{name[:20]}…' is longer than 64 characters."]})
        tag, _ = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    lead.tags.set(tags)


def _missing_required(lead: Lead, settings: LeadSettings) -> list[str]:
    return [f for f in settings.required_fields if f in CAPTURABLE_FIELDS and not getattr(lead, f)]


def _qualify_if_complete(lead: Lead, *, settings: LeadSettings) -> Lead:
    """Move a locked lead to 'qualified' once every required field is filled in."""
    if lead.stage not in AUTO_QUALIFY_FROM or _missing_required(lead, settings):
        return lead
    fields = ", ".join(settings.required_fields)
    return _transition_locked(lead, to=LeadStage.QUALIFIED, actor=AUTO_QUALIFY_ACTOR, reason=f"Captured {fields}.")


def _save_new(lead: Lead) -> Lead:
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError as exc:
        # Lost a race with another capture for the same contact or phone.
        raise Conflict("This lead was just created by someone else; try again.") from exc
    return lead


@transaction.atomic
def lead_capture(*, contact=None, phone: str | None = None, fields: dict, source: str, actor) -> Lead:
    """Record what a customer told us, creating their lead on first capture.

    Called by the conversation engine's ``capture_lead`` tool, rule flows and the
    trigger API. The lead is found by ``contact``, else by ``phone`` or the
    contact's WhatsApp number (a website lead who later writes on WhatsApp is
    linked to their contact); a phone inside ``fields`` is data, and is refused
    if another lead has it. Emails and phone
    numbers are validated and normalised; if any value is invalid nothing is
    stored and ``ValidationFailed`` names the field. Empty values are ignored.
    When the tenant's required fields are all present the lead becomes
    'qualified' and its agent (or the owners) are notified.
    """
    settings = lead_settings_get()
    _refuse_unknown_source(source)
    cleaned = _clean_fields(fields or {}, allowed=CAPTURE_FIELDS, region=settings.default_region, keep_blank=False)
    lookup_phone = ""
    if phone:
        try:
            lookup_phone = normalise_phone(phone, region=settings.default_region)
        except FieldError as exc:
            raise ValidationFailed(
                "The phone number is not valid; nothing was saved.", fields={"phone": [str(exc)]}
            ) from exc
        cleaned.setdefault("phone", lookup_phone)
    if contact is None:
        lookup_phone = lookup_phone or cleaned.get("phone", "")
    contact_phone = f"+{contact.wa_id}" if contact is not None and contact.wa_id else ""
    if contact is None and not lookup_phone:
        raise ValidationFailed(
            "A WhatsApp contact or a phone number is needed to capture a lead.",
            fields={"phone": ["Required when there is no contact."]},
        )

    lead = None
    if contact is not None:
        lead = Lead.objects.select_for_update().filter(contact=contact).first()
    if lead is None:
        for candidate in dict.fromkeys(p for p in (lookup_phone, contact_phone) if p):
            match = Lead.objects.select_for_update().filter(phone=candidate).first()
            if match is not None and (contact is None or match.contact_id in (None, contact.pk)):
                lead = match
                break

    created = lead is None
    linked = False
    if created:
        lead = Lead(contact=contact, source=source)
        if contact_phone and _phone_owner(contact_phone, exclude_pk=None) is None:
            lead.phone = contact_phone
    elif contact is not None and lead.contact_id is None:
        lead.contact = contact
        linked = True

    if cleaned.get("phone") and cleaned["phone"] != lead.phone:
        _refuse_taken_phone(cleaned["phone"], lead_pk=lead.pk)
    changed = _apply(lead, cleaned, append_notes=True)
    _, label = actor_resolve(actor)
    if created:
        _save_new(lead)
        publish("lead.created", lead_id=lead.pk, source=lead.source, actor=label)
    elif changed or linked:
        changed += ["contact"] if linked else []
        lead.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
        publish("lead.updated", lead_id=lead.pk, fields=sorted(set(changed)), actor=label)
    return _qualify_if_complete(lead, settings=settings)


@transaction.atomic
def lead_create(
    *,
    source: str,
    actor,
    contact=None,
    fields: dict,
) -> Lead:
    """Create a lead from the dashboard or API; 409 if the contact or phone already has one."""
    settings = lead_settings_get()
    _refuse_unknown_source(source)
    cleaned = _clean_fields(fields, allowed=EDITABLE_FIELDS, region=settings.default_region, keep_blank=False)
    if contact is not None:
        existing = Lead.objects.filter(contact=contact).first()
        if existing is not None:
            raise Conflict(
                f"This contact already has lead #{existing.pk}.",
                fields={"contact": [f"Already has lead #{existing.pk}."]},
                extra={"lead_id": existing.pk},
            )
        if "phone" not in cleaned and contact.wa_id:
            cleaned["phone"] = f"+{contact.wa_id}"
    if contact is None and not cleaned.get("phone") and not cleaned.get("email"):
        raise ValidationFailed(
            "A lead needs a way to reach them.", fields={"phone": ["Give a phone number, an email or a contact."]}
        )
    _refuse_taken_phone(cleaned.get("phone", ""), lead_pk=None)
    lead = Lead(contact=contact, source=source)
    _apply(lead, cleaned, append_notes=False)
    _save_new(lead)
    if "tags" in cleaned:
        _tags_set(lead, cleaned["tags"] or [])
    _, label = actor_resolve(actor)
    publish("lead.created", lead_id=lead.pk, source=lead.source, actor=label)
    return _qualify_if_complete(lead, settings=settings)


@transaction.atomic
def lead_update(*, lead: Lead, fields: dict, actor) -> Lead:
    """Edit a lead's details (not its stage or score); blank values clear a field."""
    settings = lead_settings_get()
    cleaned = _clean_fields(fields, allowed=EDITABLE_FIELDS, region=settings.default_region, keep_blank=True)
    locked = Lead.objects.select_for_update().filter(pk=lead.pk).first()
    if locked is None:
        raise NotFound(f"Lead {lead.pk} does not exist.")
    if cleaned.get("phone") and cleaned["phone"] != locked.phone:
        _refuse_taken_phone(cleaned["phone"], lead_pk=locked.pk)
    changed = _apply(locked, cleaned, append_notes=False)
    if changed:
        locked.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    if "tags" in cleaned:
        _tags_set(locked, cleaned["tags"] or [])
        changed.append("tags")
    if changed:
        _, label = actor_resolve(actor)
        publish("lead.updated", lead_id=locked.pk, fields=sorted(set(changed)), actor=label)
    return _qualify_if_complete(locked, settings=settings)


def lead_allowed_stages(lead: Lead) -> list[str]:
    """The stages this lead may move to next, in pipeline order."""
    targets = {t.target for t in lead.get_available_stage_transitions()}
    return [stage for stage in LeadStage.values if stage in targets]


def _transition_locked(lead: Lead, *, to: str, actor, reason: str) -> Lead:
    """Apply one pipeline move to a lead whose row the caller holds locked."""
    method = next((t.name for t in lead.get_available_stage_transitions() if t.target == to), None)
    if method is None:
        allowed = lead_allowed_stages(lead)
        allowed_text = ", ".join(allowed) if allowed else "none (the pipeline has ended for this lead)"
        raise Conflict(
            f"A lead in stage '{lead.stage}' cannot move to '{to}'. Allowed next stages: {allowed_text}.",
            fields={"to": [f"Not allowed from '{lead.stage}'."]},
            extra={"current_stage": lead.stage, "allowed": allowed},
        )
    user, label = actor_resolve(actor)
    from_stage = lead.stage
    getattr(lead, method)()
    lead.stage_changed_at = timezone.now()
    update_fields = ["stage", "stage_changed_at", "updated_at"]
    if to in FOLLOW_UP_ENDS_AT and lead.follow_up_state == FollowUpState.SCHEDULED:
        lead.follow_up_state = FollowUpState.CANCELLED
        update_fields.append("follow_up_state")
    lead.save(update_fields=update_fields)
    LeadTransition.objects.create(
        lead=lead, from_stage=from_stage, to_stage=to, by_user=user, actor=label, reason=reason[:500]
    )
    publish("lead.transitioned", lead_id=lead.pk, from_stage=from_stage, to_stage=to, actor=label)
    if to == LeadStage.QUALIFIED:
        _announce_qualified(lead, by_user=user, actor_label=label)
    return lead


def _announce_qualified(lead: Lead, *, by_user, actor_label: str) -> None:
    recipients = [lead.assigned_agent] if lead.assigned_agent_id else owners_list()
    # Nobody needs telling about what they just did themselves.
    recipients = [u for u in recipients if by_user is None or u.pk != by_user.pk]
    notifications = notification_create(
        recipients=recipients,
        kind=NotificationKind.LEAD_QUALIFIED,
        title=f"Lead qualified: {lead.display_name}",
        body=(
            f"{lead.display_name} ({lead.phone or lead.email}) is interested in "
            f"{lead.product_interest or 'your offer'}."
        ),
        lead=lead,
    )
    publish(
        "lead.qualified",
        lead_id=lead.pk,
        assigned_agent_id=lead.assigned_agent_id,
        notified_user_ids=[n.recipient_id for n in notifications],
        automatic=actor_label == AUTO_QUALIFY_ACTOR,
    )


@transaction.atomic
def lead_transition(*, lead: Lead, to: str, actor, reason: str = "") -> Lead:
    """Move a lead to stage ``to`` if the pipeline allows it, recording who and why.

    Raises ``ValidationFailed`` (422) for an unknown stage or a loss without a
    reason, ``Conflict`` (409) for a move the pipeline does not allow from the
    lead's current stage.
    """
    if to not in LeadStage.values:
        raise ValidationFailed(
            f"'{to}' is not a pipeline stage.", fields={"to": [f"Use one of: {', '.join(LeadStage.values)}."]}
        )
    reason = (reason or "").strip()
    if to == LeadStage.LOST and not reason:
        raise ValidationFailed("Say why the lead was lost.", fields={"reason": ["Required when marking a lead lost."]})
    locked = Lead.objects.select_for_update().filter(pk=lead.pk).first()
    if locked is None:
        raise NotFound(f"Lead {lead.pk} does not exist.")
    return _transition_locked(locked, to=to, actor=actor, reason=reason)


def lead_contacted_by_message(*, message_id: int) -> Lead | None:
    """Move a 'new' lead to 'contacted' when a person on the team writes to them (call in the tenant's schema).

    Only messages with a ``sent_by`` user count: an instant bot reply or an
    automated follow-up is not the first contact the SLA measures.
    """
    from conversations.choices import Direction
    from conversations.models import Message

    message = (
        Message.objects.select_related("conversation", "sent_by")
        .filter(pk=message_id, direction=Direction.OUTBOUND, sent_by__isnull=False)
        .first()
    )
    if message is None:
        return None
    lead = Lead.objects.filter(contact_id=message.conversation.contact_id, stage=LeadStage.NEW).first()
    if lead is None:
        return None
    try:
        return lead_transition(
            lead=lead, to=LeadStage.CONTACTED, actor=message.sent_by, reason="Sent the first WhatsApp message."
        )
    except Conflict:
        return None  # moved on meanwhile (qualified, lost)
