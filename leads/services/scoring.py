"""Lead scoring: interaction signals worth points, each kept so the score can be explained."""

import re

from django.db import IntegrityError, transaction
from django.db.models import Sum

from bizmitra.errors import ValidationFailed
from bizmitra.events import publish
from leads.choices import LeadSource, SignalKind
from leads.models import Lead, LeadSignal

SIGNAL_POINTS: dict[str, int] = {
    SignalKind.REPLY: 2,
    SignalKind.BUTTON_TAP: 3,
    SignalKind.PRICING_INTENT: 10,
    SignalKind.DEMO_INTENT: 15,
    SignalKind.FAST_RESPONSE: 5,
    SignalKind.APPOINTMENT_BOOKED: 20,
}
# Most points one kind can ever add: fifty "ok"s are not fifty times the interest.
SIGNAL_CAPS: dict[str, int] = {
    SignalKind.REPLY: 10,
    SignalKind.BUTTON_TAP: 15,
    SignalKind.FAST_RESPONSE: 15,
}
# Counted once per lead, however often the customer asks.
ONCE_PER_LEAD = frozenset({SignalKind.PRICING_INTENT, SignalKind.DEMO_INTENT})
# A reply within this many seconds of our last message counts as fast.
FAST_RESPONSE_SECONDS = 5 * 60

# English and common Hinglish phrasings; the AI engine can record intents it detects itself.
PRICING_WORDS = re.compile(
    r"\b(price|prices|pricing|cost|costs|how much|rate|rates|quote|quotation|fee|fees|charges|kitna|kitne|daam)\b"
)
DEMO_WORDS = re.compile(r"\b(demo|trial|free trial|show me|walkthrough|try it)\b")


@transaction.atomic
def lead_signal_record(*, lead: Lead, kind: str, detail: str = "", dedupe_key: str = "") -> LeadSignal | None:
    """Add a scoring signal to a lead and its points to ``lead.score``.

    Returns None when the signal was already recorded (same ``dedupe_key``, or a
    once-per-lead kind seen before). Past a kind's cap the signal is still kept,
    with 0 points, so the breakdown shows the interaction.
    """
    if kind not in SIGNAL_POINTS:
        raise ValidationFailed(f"Unknown signal '{kind}'.", fields={"kind": [f"Use one of {list(SIGNAL_POINTS)}."]})
    if kind in ONCE_PER_LEAD and not dedupe_key:
        dedupe_key = kind
    # The row lock serialises scoring of one lead, so caps and dedupe hold under concurrency.
    locked = Lead.objects.select_for_update().filter(pk=lead.pk).values("pk", "score").first()
    if locked is None:
        return None
    if dedupe_key and LeadSignal.objects.filter(lead_id=lead.pk, dedupe_key=dedupe_key).exists():
        return None
    points = SIGNAL_POINTS[kind]
    cap = SIGNAL_CAPS.get(kind)
    if cap is not None:
        earned = LeadSignal.objects.filter(lead_id=lead.pk, kind=kind).aggregate(total=Sum("points"))["total"] or 0
        points = max(0, min(points, cap - earned))
        if points == 0:
            detail = f"{detail} (cap of {cap} points reached)".strip()
    try:
        with transaction.atomic():
            signal = LeadSignal.objects.create(
                lead_id=lead.pk, kind=kind, points=points, detail=detail[:255], dedupe_key=dedupe_key
            )
    except IntegrityError:
        return None
    new_score = locked["score"] + points
    if points:
        Lead.objects.filter(pk=lead.pk).update(score=new_score)
        publish("lead.scored", lead_id=lead.pk, kind=kind, points=points, score=new_score)
    lead.score = new_score
    return signal


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return f'"{text[:limit]}…"' if len(text) > limit else f'"{text}"'


def lead_signals_from_message(*, message_id: int) -> list[LeadSignal]:
    """Score one inbound WhatsApp message for the sender's lead (see ``lead_signals_from_messages``)."""
    return lead_signals_from_messages(message_ids=[message_id])


def lead_signals_from_messages(*, message_ids: list[int]) -> list[LeadSignal]:
    """Score inbound WhatsApp messages for their senders' leads (call inside the tenant's schema).

    For each message: a reply or button tap, a pricing/demo intent found in the words, and a
    fast response when the customer answered our last message within five minutes. Creates a
    lead for a contact only if the tenant's lead settings ask for it.

    A webhook part's messages are read together: the messages with their contacts in one
    query, the leads of those contacts in one, the settings once. Under a burst most senders
    have no lead, and their messages then cost nothing more (issue 9: one message at a time,
    this was three statements a message and a quarter of the pipeline's CPU).
    """
    from conversations.choices import Direction, MessageType
    from conversations.models import Message
    from leads.selectors import lead_settings_get
    from leads.services.leads import lead_capture

    messages = list(
        Message.objects.select_related("conversation__contact")
        .filter(pk__in=message_ids, direction=Direction.INBOUND)
        .exclude(type__in=(MessageType.REACTION, MessageType.SYSTEM, MessageType.UNSUPPORTED))
        .order_by("timestamp", "id")
    )
    if not messages:
        return []
    contact_ids = {message.conversation.contact_id for message in messages}
    leads = {lead.contact_id: lead for lead in Lead.objects.filter(contact_id__in=contact_ids)}
    create_leads: bool | None = None  # read once, and only if a sender has no lead
    recorded: list[LeadSignal] = []
    for message in messages:
        contact = message.conversation.contact
        lead = leads.get(contact.pk)
        if lead is None:
            if create_leads is None:
                create_leads = lead_settings_get().create_leads_from_messages
            if not create_leads:
                continue
            lead = lead_capture(contact=contact, fields={}, source=LeadSource.WHATSAPP, actor="system:whatsapp")
            leads[contact.pk] = lead
        recorded.extend(_message_signals_record(message=message, lead=lead))
    return recorded


def _message_signals_record(*, message, lead: Lead) -> list[LeadSignal]:
    from conversations.choices import Direction, MessageType
    from conversations.models import Message

    recorded: list[LeadSignal | None] = []
    taps = (MessageType.BUTTON_REPLY, MessageType.LIST_REPLY, MessageType.BUTTON)
    if message.type in taps:
        recorded.append(
            lead_signal_record(
                lead=lead,
                kind=SignalKind.BUTTON_TAP,
                detail=f"tapped {_quote(message.payload_title or message.payload_id)}",
                dedupe_key=f"msg:{message.pk}",
            )
        )
    else:
        recorded.append(
            lead_signal_record(
                lead=lead,
                kind=SignalKind.REPLY,
                detail=f"{message.type} message {_quote(message.body)}" if message.body else f"{message.type} message",
                dedupe_key=f"msg:{message.pk}",
            )
        )

    words = " ".join((message.body, message.payload_title, message.payload_id.replace("_", " "))).lower()
    for kind, pattern in ((SignalKind.PRICING_INTENT, PRICING_WORDS), (SignalKind.DEMO_INTENT, DEMO_WORDS)):
        found = pattern.search(words)
        if found:
            recorded.append(lead_signal_record(lead=lead, kind=kind, detail=f"said {_quote(found.group(0))}"))

    previous_out = (
        Message.objects.filter(
            conversation_id=message.conversation_id, direction=Direction.OUTBOUND, timestamp__lt=message.timestamp
        )
        .order_by("-timestamp", "-id")
        .first()
    )
    if previous_out is not None:
        answered_before = (
            Message.objects.filter(
                conversation_id=message.conversation_id,
                direction=Direction.INBOUND,
                timestamp__gt=previous_out.timestamp,
                timestamp__lt=message.timestamp,
            )
            .exclude(pk=message.pk)
            .exists()
        )
        seconds = (message.timestamp - previous_out.timestamp).total_seconds()
        if not answered_before and 0 <= seconds <= FAST_RESPONSE_SECONDS:
            recorded.append(
                lead_signal_record(
                    lead=lead,
                    kind=SignalKind.FAST_RESPONSE,
                    detail=f"answered our message in {int(seconds)} s",
                    dedupe_key=f"fast:{previous_out.pk}",
                )
            )
    return [s for s in recorded if s is not None]
