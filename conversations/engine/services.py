"""The conversation engine: decide and send the bot's answer to one inbound message.

``engine_handle_inbound(*, message)`` runs in the tenant's schema (from
``engine_handle_message_task``, itself started by the ``message.received`` event) and goes
through these steps, first match wins:

1. a reaction or system notice: nothing (``ignored``);
2. an opted-out contact: only the opt-in intent ("start") gets through — it clears
   ``Contact.opted_out_at`` and sends the opt-in confirmation; anything else: silence;
3. the opt-out intent ("stop"): mark the contact opted out, send only the confirmation.
   Opt-out and opt-in are honoured whatever the bot's switches, hours or a takeover;
4. a conversation a person has taken over: silence, unless it has been idle longer than the
   bot's ``auto_return_after_minutes`` (then it goes back to the bot and on);
5. the bot is disabled or its auto-response is off: silence (``bot_off``);
6. outside the bot's working hours: the away message, once per conversation per closed
   window (the idempotency key names the window), then silence until it opens;
7. rules and flows (``templates.services.flow_match``): send a template, set a state, hand
   over, or ask the AI. No AI call is made when a rule matched;
8. nothing matched (or a rule said ``ai``): the AI agent when the bot and the tenant have AI
   on, else — and whenever the agent cannot answer — the fallback template, or
   ``DEFAULT_FALLBACK_TEXT`` when the tenant has none: the customer always gets an answer.

Every answer goes through ``message_send`` with ``idempotency_key=f"reply:{wamid}"`` (``:2``,
``:3`` for further messages of the same answer), so a replayed inbound never answers twice,
and every decision is kept in an ``EngineDecision`` row (also the claim that makes a second
run of the task return at once). Messages of one conversation are handled one at a time
(a PostgreSQL advisory lock), so a quick "hi" + "price?" are answered in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from bizmitra.errors import ValidationFailed
from conversations.choices import ConversationStatus, Direction, MessageType
from conversations.engine.bots import SYSTEM_ACTOR, bot_for_phone_number
from conversations.engine.handoff import (
    TEXT_MAX,
    conversation_handoff,
    conversation_return_to_bot,
    handoff_auto_return_reason,
    handoff_event_record,
    handoff_idle_expired,
    handoff_settings_for,
    remember,
)
from conversations.engine.hours import bot_closed_since
from conversations.models import Bot, Contact, Conversation, EngineDecision, Message
from templates.choices import NO_ACTION, BuiltinIntent, FlowAction

logger = logging.getLogger(__name__)

Path = EngineDecision.Path

DEFAULT_FALLBACK_TEXT = "Thanks for your message! We have received it and will get back to you shortly."
IGNORED_TYPES = frozenset({MessageType.REACTION, MessageType.SYSTEM})
# A claim older than this belongs to a worker that died mid-message: a re-run may take it over.
CLAIM_STALE_AFTER = timedelta(minutes=5)
# Longest wait for the previous message of the same conversation (an AI answer may take 20 s+).
CONVERSATION_LOCK_WAIT_SECONDS = 90.0
# Flow states "lead:<field>" save the customer's next text on their lead (Bot.lead_capture).
LEAD_STATE_PREFIX = "lead:"
LEAD_STATE_FIELDS = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "location": "location",
    "city": "location",
    "interest": "product_interest",
    "product_interest": "product_interest",
}

PERIODIC_TASKS = {
    "engine: apply bot schedules": ("conversations.engine.tasks.bot_schedules_apply_task", 30),
    "engine: handoff auto-return": ("conversations.engine.tasks.handoff_auto_return_task", 60),
}


@dataclass
class Outcome:
    """What the engine decided, as written to the ``EngineDecision`` row."""

    path: str
    reason: str = ""
    rule: object | None = None
    template_key: str = ""
    away_window_start: datetime | None = None
    ai_call_id: int | None = None


@dataclass
class _Run:
    """One message being handled: what it is about and what was sent so far."""

    message: Message
    conversation: Conversation
    contact: Contact
    bot: Bot
    schema_name: str
    sends: int = 0
    sent_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    user_remembered: bool = False

    @property
    def reply_key(self) -> str:
        base = f"reply:{self.message.wamid}" if self.message.wamid else f"reply:message-{self.message.pk}"
        return base if self.sends <= 1 else f"{base}:{self.sends}"


# --- entry points ----------------------------------------------------------------------------


def engine_handle_message(*, message_id: int) -> EngineDecision | None:
    """Handle the inbound message ``message_id`` (gone or not inbound: None). Tenant schema."""
    message = (
        Message.objects.select_related("conversation__contact")
        .filter(pk=message_id, direction=Direction.INBOUND)
        .first()
    )
    return engine_handle_inbound(message=message) if message is not None else None


def engine_handle_inbound(*, message: Message) -> EngineDecision:
    """Decide and send the answer to one inbound message; returns its ``EngineDecision``.

    Call inside the tenant's schema, outside a transaction (the AI call may take seconds).
    Re-runnable: a message already handled (or being handled) is not handled again; the
    row returned then is the earlier decision. Raises only for bugs and database trouble
    (the claim is released, so the task's retry starts afresh; sends already queued are
    not repeated, their idempotency keys stay the same).
    """
    decision = _claim(message)
    if decision is None:
        return EngineDecision.objects.get(message=message)
    started = time.perf_counter()
    try:
        with _conversation_lock(message.conversation_id):
            message = Message.objects.select_related("conversation__contact").get(pk=message.pk)
            conversation = message.conversation
            run = _Run(
                message=message,
                conversation=conversation,
                contact=conversation.contact,
                bot=bot_for_phone_number(conversation.phone_number_id),
                schema_name=connection.schema_name,
            )
            outcome = _decide(run)
    except Exception:
        EngineDecision.objects.filter(pk=decision.pk, finished_at__isnull=True).delete()
        raise
    reason = "; ".join(filter(None, [outcome.reason, *run.notes]))
    decision.bot = run.bot
    decision.path = outcome.path
    decision.rule = outcome.rule
    decision.rule_name = getattr(outcome.rule, "name", "")[:100]
    decision.template_key = outcome.template_key
    decision.reason = reason[:500]
    decision.ai_call_id = outcome.ai_call_id
    decision.reply_message_ids = run.sent_ids
    decision.away_window_start = outcome.away_window_start
    decision.latency_ms = int((time.perf_counter() - started) * 1000)
    decision.finished_at = timezone.now()
    decision.save(
        update_fields=[
            "bot",
            "path",
            "rule",
            "rule_name",
            "template_key",
            "reason",
            "ai_call",
            "reply_message_ids",
            "away_window_start",
            "latency_ms",
            "finished_at",
        ]
    )
    return decision


# --- the decision ----------------------------------------------------------------------------


def _decide(run: _Run) -> Outcome:
    from templates.selectors import conversation_state_get
    from templates.services import flow_match

    message, contact, conversation, bot = run.message, run.contact, run.conversation, run.bot
    if message.type in IGNORED_TYPES:
        return Outcome(Path.IGNORED, f"{message.type} message")

    _builtin_intents_ensure()
    state = conversation_state_get(contact=contact)
    text = message_text(message)
    flow = flow_match(text=text, payload_id=message.payload_id, state=state, bot=bot)
    intent = flow.rule.builtin_intent if flow.rule is not None else ""

    if contact.opted_out_at is not None:
        if intent == BuiltinIntent.OPT_IN:
            return _opt_in(run, flow)
        return Outcome(Path.OPTED_OUT, "contact opted out; only the opt-in intent gets through")
    if intent == BuiltinIntent.OPT_OUT:
        return _opt_out(run, flow)

    if conversation.status == ConversationStatus.HANDED_OFF:
        settings = handoff_settings_for(bot)
        if not handoff_idle_expired(conversation=conversation, settings=settings):
            _remember_user(run)
            return Outcome(
                Path.SILENT_HANDOFF, f"a person has taken over ({conversation.handoff_reason or 'no reason'})"
            )
        reason = handoff_auto_return_reason(settings)
        conversation_return_to_bot(conversation=conversation, by=SYSTEM_ACTOR, reason=reason)
        run.notes.append(f"returned to the bot: {reason}")

    if not bot.is_enabled:
        return Outcome(Path.BOT_OFF, f"bot '{bot.name}' is disabled")
    if not bot.auto_response:
        return Outcome(Path.BOT_OFF, f"auto-response of bot '{bot.name}' is off")

    window_start = bot_closed_since(bot, at=timezone.now())
    if window_start is not None:
        return _away(run, window_start)

    _capture_lead(run, state=state, text=text)

    if flow.action == FlowAction.AI:
        return _ai_answer(run, why=flow.reason, rule=flow.rule, next_state=flow.next_state)
    if flow.action == NO_ACTION or _is_fallback(flow):
        return _ai_answer(run, why=flow.reason, rule=None, next_state=None)
    return _apply_flow(run, flow)


def _opt_out(run: _Run, flow) -> Outcome:
    with transaction.atomic():
        Contact.objects.filter(pk=run.contact.pk, opted_out_at__isnull=True).update(opted_out_at=timezone.now())
        # The confirmation is the one message an opted-out contact still receives.
        _answer_with_template(run, flow.template, fallback=False, allow_opted_out=True)
    return Outcome(Path.BUILTIN, "opted out: " + flow.reason, rule=flow.rule, template_key=_key(flow.template))


def _opt_in(run: _Run, flow) -> Outcome:
    with transaction.atomic():
        Contact.objects.filter(pk=run.contact.pk).update(opted_out_at=None)
        run.contact.opted_out_at = None
        # Opted in within this transaction; the flag also covers a concurrent "stop" in between.
        _answer_with_template(run, flow.template, fallback=False, allow_opted_out=True)
    return Outcome(Path.BUILTIN, "opted in again: " + flow.reason, rule=flow.rule, template_key=_key(flow.template))


def _away(run: _Run, window_start: datetime) -> Outcome:
    # The key names the closed window: the unique idempotency key lets one away message per
    # conversation and window through, even for messages handled at the same moment.
    key = f"away:{run.conversation.pk}:{int(window_start.timestamp())}"
    sent = _send(run, "text", run.bot.away_message[:TEXT_MAX], key=key)
    reason = "outside working hours" + ("" if sent else "; away message already sent in this closed window")
    return Outcome(Path.AWAY, reason, away_window_start=window_start)


def _apply_flow(run: _Run, flow) -> Outcome:
    from templates.services import conversation_state_advance

    rule = flow.rule
    if flow.choice is not None:
        path = Path.FLOW
    elif rule is not None and rule.builtin_intent:
        path = Path.BUILTIN
    else:
        path = Path.RULE
    template = flow.template

    if flow.action == FlowAction.HANDOFF:
        sent = _answer_with_template(run, template, fallback=False) if template is not None else False
        if not sent:
            message = handoff_settings_for(run.bot).handoff_message.strip()
            if message:
                _send(run, "text", message[:TEXT_MAX])
        if template is not None or flow.next_state is not None:
            conversation_state_advance(contact=run.contact, template=template if sent else None, state=flow.next_state)
        who = f"rule:{rule.name}" if rule is not None else "flow"
        conversation_handoff(conversation=run.conversation, by=who, reason=flow.reason)
        return Outcome(path, "handed off: " + flow.reason, rule=rule, template_key=_key(template))

    if template is not None:
        if not _answer_with_template(run, template, fallback=True):
            return Outcome(Path.FALLBACK, f"{flow.reason}; its template could not be sent", rule=rule)
    conversation_state_advance(contact=run.contact, template=template, state=flow.next_state)
    return Outcome(path, flow.reason, rule=rule, template_key=_key(template))


def _ai_answer(run: _Run, *, why: str, rule, next_state: str | None) -> Outcome:
    from conversations.ai.selectors import ai_settings_get
    from templates.selectors import template_get
    from templates.services import conversation_state_advance

    if not run.bot.ai_enabled:
        return _fallback(run, f"{why}; AI is off for bot '{run.bot.name}'", rule=rule)
    if not ai_settings_get().enabled:
        return _fallback(run, f"{why}; AI is off in the AI settings", rule=rule)

    try:
        reply = _agent_reply(run)
    except Exception as exc:  # a bug in the agent must not cost the customer their answer
        logger.exception("AI agent failed on message %s", run.message.pk)
        return _fallback(run, f"{why}; AI agent failed ({type(exc).__name__})", rule=rule)

    if next_state is not None:
        conversation_state_advance(contact=run.contact, state=next_state)
    ai_call_id = reply.log_id
    if reply.kind == "fallback":
        outcome = _fallback(run, f"{why}; AI fallback: {reply.reason}", rule=rule)
        outcome.ai_call_id = ai_call_id
        return outcome

    template = template_get(key=reply.template_key) if reply.template_key else None
    if reply.kind == "handoff":
        handoff_event_record(conversation=run.conversation, by="ai", reason=reply.reason)
        said = False
        if reply.text:
            said = _send(run, "text", reply.text[:TEXT_MAX]) is not None
        if template is not None:
            said = _answer_with_template(run, template, fallback=False) or said
        if not said:
            message = handoff_settings_for(run.bot).handoff_message.strip()
            if message:
                _send(run, "text", message[:TEXT_MAX])
        return Outcome(
            Path.AI,
            f"{why}; AI handed off: {reply.reason}",
            rule=rule,
            template_key=_key(template),
            ai_call_id=ai_call_id,
        )

    if template is not None:
        if _answer_with_template(run, template, fallback=True):
            return Outcome(
                Path.AI, f"{why}; AI chose a template", rule=rule, template_key=template.key, ai_call_id=ai_call_id
            )
    elif reply.text and _send(run, "text", reply.text[:TEXT_MAX]) is not None:
        return Outcome(Path.AI, f"{why}; AI answered", rule=rule, ai_call_id=ai_call_id)
    if run.sent_ids:
        return Outcome(Path.FALLBACK, f"{why}; the AI answer could not be sent", rule=rule, ai_call_id=ai_call_id)
    outcome = _fallback(run, f"{why}; the AI answer could not be sent", rule=rule)
    outcome.ai_call_id = ai_call_id
    return outcome


def _fallback(run: _Run, reason: str, *, rule=None) -> Outcome:
    """Send the tenant's fallback template, or the default text when it has none."""
    from templates.selectors import flow_settings_get
    from templates.services import conversation_state_advance

    template = flow_settings_get().fallback_template
    if template is not None and template.is_sendable and _answer_with_template(run, template, fallback=False):
        conversation_state_advance(contact=run.contact, template=template)
        return Outcome(Path.FALLBACK, reason, rule=rule, template_key=template.key)
    _send(run, "text", DEFAULT_FALLBACK_TEXT)
    return Outcome(Path.FALLBACK, reason + "; default text (no fallback template)", rule=rule)


# --- sending ---------------------------------------------------------------------------------


def _answer_with_template(run: _Run, template, *, fallback: bool, allow_opted_out: bool = False) -> bool:
    """Send ``template`` rendered for the contact; when it cannot be sent (Meta's limits after
    rendering) and ``fallback`` is set, send the fallback instead. True if the template went."""
    from templates.rendering import render_context, render_template

    if template is None:
        return False
    context = render_context(contact=run.contact, lead=_lead_of(run.contact), business_name=_business_name())
    rendered = render_template(template, context)
    sent = _send(
        run, rendered["type"], rendered["content"], what=f"template {template.key}", allow_opted_out=allow_opted_out
    )
    if sent is not None:
        return True
    if fallback:
        _fallback(run, f"template {template.key} could not be sent")
    return False


def _send(
    run: _Run, type_: str, content, *, key: str | None = None, what: str = "", allow_opted_out: bool = False
) -> Message | None:
    """Queue one message of the answer; None when it was not queued (already sent for this
    key, or refused by validation: the reason goes into the decision)."""
    from conversations.ai.memory import message_text as memory_text
    from conversations.services.outbound import DuplicateMessage, message_send

    _remember_user(run)
    if key is None:
        run.sends += 1
        key = run.reply_key
    try:
        message = message_send(
            to=run.contact.recipient,
            type=type_,
            content=content,
            idempotency_key=key,
            conversation=run.conversation,
            context_wamid="",
            allow_opted_out=allow_opted_out,
        )
    except DuplicateMessage:
        logger.info("message %s: %s was sent before (replay)", run.message.pk, key)
        return None
    except ValidationFailed as exc:
        logger.warning("message %s: %s not sent: %s %s", run.message.pk, what or type_, exc.message, exc.fields)
        run.notes.append(f"{what or type_} not sent: {exc.message}")
        return None
    run.sent_ids.append(message.pk)
    remember(
        schema_name=run.schema_name,
        contact_id=run.contact.pk,
        role="assistant",
        content=memory_text(message) or "[message]",
        message_id=message.pk,
        once=False,
    )
    return message


def _remember_user(run: _Run) -> None:
    # The AI agent reads this memory: it should know what rules, flows and people answered.
    if run.user_remembered:
        return
    from conversations.ai.memory import message_text as memory_text

    run.user_remembered = True
    content = memory_text(run.message)
    if content:
        remember(
            schema_name=run.schema_name,
            contact_id=run.contact.pk,
            role="user",
            content=content,
            message_id=run.message.pk,
        )


# --- helpers ---------------------------------------------------------------------------------


def message_text(message: Message) -> str:
    """The text rules match: the message body, or a tapped button's title."""
    return (message.body or message.payload_title or "").strip()


def _is_fallback(flow) -> bool:
    # flow_match answers "no rule matched" with the fallback template; the AI comes first.
    return flow.action == FlowAction.SEND_TEMPLATE and flow.rule is None and flow.choice is None


def _key(template) -> str:
    return template.key if template is not None else ""


def _builtin_intents_ensure() -> None:
    from templates.selectors import flow_settings_get
    from templates.services import builtin_intents_ensure

    settings = flow_settings_get()
    if settings._state.adding or not settings.builtin_intents_seeded:
        builtin_intents_ensure()


def _capture_lead(run: _Run, *, state, text: str) -> None:
    if not run.bot.lead_capture or state is None or not state.state.startswith(LEAD_STATE_PREFIX) or not text:
        return
    field_name = LEAD_STATE_FIELDS.get(state.state[len(LEAD_STATE_PREFIX) :].strip().lower())
    if field_name is None:
        return
    from leads.choices import LeadSource
    from leads.services import lead_capture

    try:
        lead_capture(
            contact=run.contact, fields={field_name: text[:255]}, source=LeadSource.WHATSAPP, actor=f"bot:{run.bot.pk}"
        )
    except ValidationFailed as exc:
        run.notes.append(f"lead {field_name} not saved: {exc.message}")
    else:
        run.notes.append(f"lead {field_name} saved")


def _lead_of(contact: Contact):
    try:
        from leads.selectors import lead_for_contact
    except ImportError:  # the leads app is optional for the engine
        return None
    return lead_for_contact(contact_id=contact.pk)


def _business_name() -> str:
    tenant = getattr(connection, "tenant", None)
    if tenant is not None and getattr(tenant, "schema_name", None) == connection.schema_name:
        return getattr(tenant, "name", "") or ""
    return ""


def _agent_reply(run: _Run):
    from conversations.ai.services import agent_reply

    # A bot's own prompt replaces the tenant's AI instructions for the numbers it serves.
    return agent_reply(conversation=run.conversation, inbound_message=run.message, system_prompt=run.bot.system_prompt)


# --- claims and locks ------------------------------------------------------------------------


def _claim(message: Message) -> EngineDecision | None:
    """Insert the message's decision row as the claim; None when another run holds it or is done."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return EngineDecision.objects.create(
                message=message, conversation_id=message.conversation_id, claimed_at=now
            )
    except IntegrityError:
        pass
    taken = EngineDecision.objects.filter(
        message=message, finished_at__isnull=True, claimed_at__lt=now - CLAIM_STALE_AFTER
    ).update(claimed_at=now)
    return EngineDecision.objects.get(message=message) if taken else None


@contextmanager
def _conversation_lock(conversation_id: int) -> Iterator[None]:
    """Handle one message of a conversation at a time (a session advisory lock: no row is
    locked, so the webhook ingest never waits for it)."""
    key = f"engine:{connection.schema_name}:{conversation_id}"
    deadline = time.monotonic() + CONVERSATION_LOCK_WAIT_SECONDS
    acquired = False
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
            acquired = bool(cursor.fetchone()[0])
            if acquired or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    if not acquired:
        logger.warning(
            "conversation %s still busy after %ss; handling anyway", conversation_id, CONVERSATION_LOCK_WAIT_SECONDS
        )
    try:
        yield
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


# --- periodic tasks --------------------------------------------------------------------------


def engine_periodic_tasks_ensure() -> None:
    """Register the engine's beat jobs with django-celery-beat (idempotent; run at startup by
    ``bizmitra.periodic``)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask
    from django_tenants.utils import get_public_schema_name, schema_context

    with schema_context(get_public_schema_name()):
        for name, (task, seconds) in PERIODIC_TASKS.items():
            schedule, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={
                    "task": task,
                    "interval": schedule,
                    "kwargs": "{}",
                    "enabled": True,
                    "description": "Conversation engine (conversations/engine/); fans out to every tenant.",
                },
            )
