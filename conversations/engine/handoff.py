"""Human takeover: hand a conversation to a person, give it back to the bot, agent replies.

While a conversation is ``handed_off`` the engine stays silent. It goes back to the bot
when someone returns it (``conversation_return_to_bot``: API, admin action) or after the
bot's ``HandoffSettings.auto_return_after_minutes`` without agent activity: checked lazily
on the customer's next message and by the ``engine: handoff auto-return`` periodic task.
Agent activity is the handoff itself and every outbound message not sent by the engine
(dashboard and API replies, agents' template sends). Call everything inside the tenant's
schema; each change publishes ``conversation.updated`` for the live dashboard.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from bizmitra.errors import ValidationFailed
from bizmitra.events import publish
from conversations.choices import ConversationStatus, Direction
from conversations.engine.bots import SYSTEM_ACTOR, actor_split, bot_for_phone_number
from conversations.models import Bot, Conversation, HandoffEvent, HandoffSettings, Message

logger = logging.getLogger(__name__)

# Idempotency keys of the messages the engine sends: they are the bot talking, not an agent.
ENGINE_KEY_PREFIXES = ("reply:", "away:")
TEXT_MAX = 4096


def handoff_settings_for(bot: Bot) -> HandoffSettings:
    """The bot's handoff settings; unsaved defaults when it has none."""
    try:
        return bot.handoff_settings
    except HandoffSettings.DoesNotExist:
        return HandoffSettings(bot=bot)


@transaction.atomic
def conversation_handoff(*, conversation: Conversation, by=None, reason: str = "") -> bool:
    """Hand a conversation to a person: the bot stays silent until it is returned.

    ``by`` is the person (they become the assigned agent when there is none), an API-key
    principal, a label (``"rule:…"``, ``"ai"``) or None (the system). Idempotent: False when
    it was already handed off. Updates the given instance.
    """
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.status == ConversationStatus.HANDED_OFF:
        _copy(locked, conversation)
        return False
    actor, label = actor_split(by)
    locked.status = ConversationStatus.HANDED_OFF
    locked.handed_off_at = timezone.now()
    locked.handoff_reason = reason.strip()[:255]
    fields = ["status", "handed_off_at", "handoff_reason"]
    if actor is not None and locked.assigned_agent_id is None:
        locked.assigned_agent = actor
        fields.append("assigned_agent")
    locked.save(update_fields=fields)
    HandoffEvent.objects.create(
        conversation=locked,
        action=HandoffEvent.Action.HANDOFF,
        actor=actor,
        actor_label=label,
        reason=locked.handoff_reason,
    )
    _copy(locked, conversation)
    _publish(locked)
    return True


@transaction.atomic
def conversation_return_to_bot(*, conversation: Conversation, by=None, reason: str = "") -> bool:
    """Give a handed-off conversation back to the bot; False when it was not handed off."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.status != ConversationStatus.HANDED_OFF:
        _copy(locked, conversation)
        return False
    actor, label = actor_split(by)
    locked.status = ConversationStatus.OPEN
    locked.handed_off_at = None
    locked.handoff_reason = ""
    locked.save(update_fields=["status", "handed_off_at", "handoff_reason"])
    HandoffEvent.objects.create(
        conversation=locked, action=HandoffEvent.Action.RETURN, actor=actor, actor_label=label, reason=reason[:255]
    )
    _copy(locked, conversation)
    _publish(locked)
    return True


def last_agent_activity(conversation: Conversation) -> datetime:
    """When a person last acted on this handed-off conversation (the handoff or a message)."""
    engine_sent = Q()
    for prefix in ENGINE_KEY_PREFIXES:
        engine_sent |= Q(idempotency_key__startswith=prefix)
    latest = (
        Message.objects.filter(conversation_id=conversation.pk, direction=Direction.OUTBOUND)
        .exclude(engine_sent)
        .aggregate(at=Max("created_at"))["at"]
    )
    started = conversation.handed_off_at or conversation.created_at
    return max(started, latest) if latest else started


def handoff_idle_expired(*, conversation: Conversation, settings: HandoffSettings, now: datetime | None = None) -> bool:
    """Whether a handed-off conversation has been idle long enough to go back to the bot."""
    minutes = settings.auto_return_after_minutes
    if conversation.status != ConversationStatus.HANDED_OFF or not minutes:
        return False
    return last_agent_activity(conversation) + timedelta(minutes=minutes) <= (now or timezone.now())


def handoff_auto_return_reason(settings: HandoffSettings) -> str:
    return f"no agent activity for {settings.auto_return_after_minutes} min"


def handoffs_auto_return(*, now: datetime | None = None) -> int:
    """Return every idle handed-off conversation of this tenant to its bot; returns how many."""
    now = now or timezone.now()
    bots: dict[str, Bot] = {}
    returned = 0
    for conversation in Conversation.objects.filter(status=ConversationStatus.HANDED_OFF):
        bot = bots.get(conversation.phone_number_id)
        if bot is None:
            bot = bots[conversation.phone_number_id] = bot_for_phone_number(conversation.phone_number_id)
        settings = handoff_settings_for(bot)
        if handoff_idle_expired(conversation=conversation, settings=settings, now=now):
            returned += conversation_return_to_bot(
                conversation=conversation, by=SYSTEM_ACTOR, reason=handoff_auto_return_reason(settings)
            )
    if returned:
        logger.info("%s: %d conversation(s) returned to the bot", connection.schema_name, returned)
    return returned


@transaction.atomic
def conversation_agent_reply(
    *, conversation: Conversation, text: str, by=None, idempotency_key: str | None = None
) -> Message:
    """A person answers the customer: queue the text and take the conversation over.

    A conversation the bot was handling is handed off first (``"agent replied"``), so the bot
    does not talk over the person. Raises ``ValidationFailed`` (empty or too long text),
    ``WindowClosed`` (24 h window closed: only templates may go) or ``DuplicateMessage``.
    """
    from conversations.services.outbound import message_send

    text = (text or "").strip()
    if not text or len(text) > TEXT_MAX:
        raise ValidationFailed("Invalid reply.", fields={"text": [f"Give 1 to {TEXT_MAX} characters."]})
    actor, _ = actor_split(by)
    conversation = Conversation.objects.select_related("contact").get(pk=conversation.pk)
    message = message_send(
        to=conversation.contact.recipient,
        type="text",
        content=text,
        idempotency_key=idempotency_key,
        sent_by=actor,
        conversation=conversation,
    )
    conversation_handoff(conversation=conversation, by=by, reason="agent replied")
    schema_name, contact_id = connection.schema_name, conversation.contact_id
    transaction.on_commit(
        lambda: remember(
            schema_name=schema_name,
            contact_id=contact_id,
            role="assistant",
            content=text,
            message_id=message.pk,
            once=False,
        )
    )
    return message


def remember(
    *, schema_name: str, contact_id: int, role: str, content: str, message_id: int | None, once: bool = True
) -> None:
    """Add a message to the AI assistant's memory of the contact (best effort: Redis may be down).

    ``once``: skip it when the memory has this message already (a re-run of the engine, or
    the agent remembered it itself); a message just created cannot be there.
    """
    try:
        from conversations.ai.memory import memory_append, memory_get

        if (
            once
            and message_id is not None
            and any(
                entry.get("message_id") == message_id
                for entry in memory_get(schema_name=schema_name, contact_id=contact_id)
            )
        ):
            return
        memory_append(schema_name=schema_name, contact_id=contact_id, role=role, content=content, message_id=message_id)
    except Exception:
        logger.warning("could not add message %s to the AI memory", message_id, exc_info=True)


def remember_many(*, schema_name: str, entries: list[tuple[int, tuple]]) -> None:
    """``remember`` for a batch of decisions, in two Redis round trips instead of up to three
    per message: ``entries`` are ``(contact_id, (role, content, message or id, once))`` in
    order (a message object stands for its id, known once the batch stored it)."""
    if not entries:
        return
    try:
        from conversations.ai.memory import memory_append_many, memory_get_many

        contact_ids = sorted({contact_id for contact_id, (*_, once) in entries if once})
        known = memory_get_many(schema_name=schema_name, contact_ids=contact_ids) if contact_ids else {}
        rows = []
        for contact_id, (role, content, message, once) in entries:
            message_id = getattr(message, "pk", message)
            if once and any(e.get("message_id") == message_id for e in known.get(contact_id, [])):
                continue
            rows.append((contact_id, role, content, message_id))
        memory_append_many(schema_name=schema_name, rows=rows)
    except Exception:
        logger.warning("could not add %d messages to the AI memory", len(entries), exc_info=True)


def _copy(source: Conversation, target: Conversation) -> None:
    for name in ("status", "handed_off_at", "handoff_reason", "assigned_agent_id"):
        setattr(target, name, getattr(source, name))


def _publish(conversation: Conversation) -> None:
    publish(
        "conversation.updated",
        conversation_id=conversation.pk,
        contact_id=conversation.contact_id,
        status=conversation.status,
        handoff_reason=conversation.handoff_reason,
    )
