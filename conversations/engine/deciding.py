"""Deciding the answer to one inbound message (see ``conversations.engine.services`` for the
order of the steps). Every function here takes the ``Run`` being handled and returns an
``Outcome``; sends go through ``replying``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from conversations.ai.selectors import AI_OFF_MESSAGE, ai_endpoint_configured, ai_settings_get
from conversations.ai.services import assistant_reply
from conversations.choices import ConversationStatus, MessageType
from conversations.engine import hooks
from conversations.engine.bots import SYSTEM_ACTOR
from conversations.engine.flow_state import conversation_state_advance
from conversations.engine.handoff import (
    TEXT_MAX,
    conversation_handoff,
    conversation_return_to_bot,
    handoff_auto_return_reason,
    handoff_idle_expired,
    handoff_settings_for,
)
from conversations.engine.hours import bot_closed_since
from conversations.engine.replying import Run, remember_user, send, send_template
from conversations.models import Contact, EngineDecision, Message
from templates.choices import NO_ACTION, BuiltinIntent, FlowAction
from templates.selectors import flow_book
from templates.services import builtin_intents_ensure, flow_match

logger = logging.getLogger(__name__)

Path = EngineDecision.Path

DEFAULT_FALLBACK_TEXT = "Thanks for your message! We have received it and will get back to you shortly."
IGNORED_TYPES = frozenset({MessageType.REACTION, MessageType.SYSTEM})
# Flow states "lead:<field>" save the customer's next text on their lead (Bot.lead_capture).
LEAD_STATE_PREFIX = "lead:"


class SlowPathNeeded(Exception):
    """Raised in the fast path when the answer needs what a single transaction must not hold:
    an AI call (seconds), or an away message whose key may already be used. The fast
    transaction is rolled back (it wrote nothing outside the database) and the message is
    decided again on the slow path."""


class Unbatchable(SlowPathNeeded):
    """Raised in a batched decision (``Run.deferred``) before a step that writes more than
    replies, flow state and memory (opt-out/in, handoff, lead capture, seeding): the batch
    leaves the message to the one-message path, which decides it afresh."""


def _not_in_batch(run: Run, what: str) -> None:
    if run.deferred:
        raise Unbatchable(what)


@dataclass
class Outcome:
    """What the engine decided, as written to the ``EngineDecision`` row."""

    path: str
    reason: str = ""
    rule: object | None = None
    template_key: str = ""
    away_window_start: datetime | None = None
    ai_call_id: int | None = None


def decide(run: Run, *, state) -> Outcome:
    """The answer to ``run.message``; ``state`` is the contact's ``ConversationState`` or None."""
    message, contact, conversation, bot = run.message, run.contact, run.conversation, run.bot
    if message.type in IGNORED_TYPES:
        return Outcome(Path.IGNORED, f"{message.type} message")

    _builtin_intents_ensure(run)
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
            remember_user(run)
            return Outcome(
                Path.SILENT_HANDOFF, f"a person has taken over ({conversation.handoff_reason or 'no reason'})"
            )
        _not_in_batch(run, "returning a handed-off conversation to the bot")
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

    if flow.action == FlowAction.AI:
        return _ai_answer(run, why=flow.reason, rule=flow.rule, next_state=flow.next_state, state=state, text=text)
    if flow.action == NO_ACTION or _is_fallback(flow):
        return _ai_answer(run, why=flow.reason, rule=None, next_state=None, state=state, text=text)
    _capture_lead(run, state=state, text=text)
    return _apply_flow(run, flow)


def _opt_out(run: Run, flow) -> Outcome:
    _not_in_batch(run, "opt-out")
    # savepoint=False: inside the fast path's transaction this joins it at no extra query.
    with transaction.atomic(savepoint=False):
        Contact.objects.filter(pk=run.contact.pk, opted_out_at__isnull=True).update(opted_out_at=timezone.now())
        # The confirmation is the one message an opted-out contact still receives.
        send_template(run, flow.template, allow_opted_out=True)
    return Outcome(Path.BUILTIN, "opted out: " + flow.reason, rule=flow.rule, template_key=_key(flow.template))


def _opt_in(run: Run, flow) -> Outcome:
    _not_in_batch(run, "opt-in")
    with transaction.atomic(savepoint=False):
        Contact.objects.filter(pk=run.contact.pk).update(opted_out_at=None)
        run.contact.opted_out_at = None
        # Opted in within this transaction; the flag also covers a concurrent "stop" in between.
        send_template(run, flow.template, allow_opted_out=True)
    return Outcome(Path.BUILTIN, "opted in again: " + flow.reason, rule=flow.rule, template_key=_key(flow.template))


def _away(run: Run, window_start: datetime) -> Outcome:
    if run.fast:
        raise SlowPathNeeded("away message")
    # The key names the closed window: the unique idempotency key lets one away message per
    # conversation and window through, even for messages handled at the same moment.
    key = f"away:{run.conversation.pk}:{int(window_start.timestamp())}"
    sent = send(run, "text", run.bot.away_message[:TEXT_MAX], key=key)
    reason = "outside working hours" + ("" if sent else "; away message already sent in this closed window")
    return Outcome(Path.AWAY, reason, away_window_start=window_start)


def _apply_flow(run: Run, flow) -> Outcome:
    rule = flow.rule
    if flow.choice is not None:
        path = Path.FLOW
    elif rule is not None and rule.builtin_intent:
        path = Path.BUILTIN
    else:
        path = Path.RULE
    template = flow.template

    if flow.action == FlowAction.HANDOFF:
        _not_in_batch(run, "handoff")
        sent = send_template(run, template) if template is not None else False
        if not sent:
            message = handoff_settings_for(run.bot).handoff_message.strip()
            if message:
                send(run, "text", message[:TEXT_MAX])
        if template is not None or flow.next_state is not None:
            _state_advance(run, template=template if sent else None, state=flow.next_state)
        who = f"rule:{rule.name}" if rule is not None else "flow"
        conversation_handoff(conversation=run.conversation, by=who, reason=flow.reason)
        return Outcome(path, "handed off: " + flow.reason, rule=rule, template_key=_key(template))

    if template is not None and not send_template(run, template):
        fallback(run, f"template {template.key} could not be sent")
        return Outcome(Path.FALLBACK, f"{flow.reason}; its template could not be sent", rule=rule)
    _state_advance(run, template=template, state=flow.next_state)
    return Outcome(path, flow.reason, rule=rule, template_key=_key(template))


def _ai_off_reason(run: Run) -> str:
    if not run.bot.ai_enabled:
        return f"AI is off for bot '{run.bot.name}'"
    config = ai_settings_get()
    if not config.enabled:
        return "AI is off in the AI settings"
    if not ai_endpoint_configured(config=config):
        return AI_OFF_MESSAGE  # no key and no base URL: nothing to call
    return ""


def _ai_answer(run: Run, *, why: str, rule, next_state: str | None, state, text: str) -> Outcome:
    off = _ai_off_reason(run)
    if off:
        _capture_lead(run, state=state, text=text)
        return fallback(run, f"{why}; {off}", rule=rule)
    if run.fast:
        raise SlowPathNeeded("AI answer")
    _capture_lead(run, state=state, text=text)

    try:
        # A bot's own prompt replaces the tenant's AI instructions for the numbers it serves.
        reply = assistant_reply(
            conversation=run.conversation, inbound_message=run.message, system_prompt=run.bot.system_prompt
        )
    except Exception as exc:  # a bug in the agent must not cost the customer their answer
        logger.exception("AI assistant failed on message %s", run.message.pk)
        return fallback(run, f"{why}; AI assistant failed ({type(exc).__name__})", rule=rule)

    if next_state is not None:
        _state_advance(run, state=next_state)
    ai_call_id = reply.log_id
    if reply.kind == "fallback":
        outcome = fallback(run, f"{why}; AI fallback: {reply.reason}", rule=rule)
        outcome.ai_call_id = ai_call_id
        return outcome

    template = flow_book().templates_by_key.get(reply.template_key) if reply.template_key else None
    if reply.kind == "handoff":
        said = False
        if reply.text:
            said = send(run, "text", reply.text[:TEXT_MAX]) is not None
        if template is not None:
            said = send_template(run, template) or said
        if not said:
            message = handoff_settings_for(run.bot).handoff_message.strip()
            if message:
                send(run, "text", message[:TEXT_MAX])
        return Outcome(
            Path.AI,
            f"{why}; AI handed off: {reply.reason}",
            rule=rule,
            template_key=_key(template),
            ai_call_id=ai_call_id,
        )

    if template is not None:
        if send_template(run, template):
            return Outcome(
                Path.AI, f"{why}; AI chose a template", rule=rule, template_key=template.key, ai_call_id=ai_call_id
            )
        fallback(run, f"template {template.key} could not be sent")
    elif reply.text and send(run, "text", reply.text[:TEXT_MAX]) is not None:
        return Outcome(Path.AI, f"{why}; AI answered", rule=rule, ai_call_id=ai_call_id)
    if run.sent_ids:
        return Outcome(Path.FALLBACK, f"{why}; the AI answer could not be sent", rule=rule, ai_call_id=ai_call_id)
    outcome = fallback(run, f"{why}; the AI answer could not be sent", rule=rule)
    outcome.ai_call_id = ai_call_id
    return outcome


def fallback(run: Run, reason: str, *, rule=None) -> Outcome:
    """Send the tenant's fallback template, or the default text when it has none."""
    template = flow_book().fallback_template
    if template is not None and template.is_sendable and send_template(run, template):
        _state_advance(run, template=template)
        return Outcome(Path.FALLBACK, reason, rule=rule, template_key=template.key)
    send(run, "text", DEFAULT_FALLBACK_TEXT)
    return Outcome(Path.FALLBACK, reason + "; default text (no fallback template)", rule=rule)


def message_text(message: Message) -> str:
    """The text rules match: the message body, or a tapped button's title."""
    return (message.body or message.payload_title or "").strip()


def _is_fallback(flow) -> bool:
    # flow_match answers "no rule matched" with the fallback template; the AI comes first.
    return flow.action == FlowAction.SEND_TEMPLATE and flow.rule is None and flow.choice is None


def _key(template) -> str:
    return template.key if template is not None else ""


def _builtin_intents_ensure(run: Run) -> None:
    if not flow_book().builtin_intents_seeded:
        _not_in_batch(run, "seeding the built-in intents")
        builtin_intents_ensure()


def _state_advance(run: Run, *, template=None, state: str | None = None) -> None:
    if run.deferred:
        run.deferred_states.append((template, state))
    else:
        conversation_state_advance(contact=run.contact, template=template, state=state)


def _capture_lead(run: Run, *, state, text: str) -> None:
    if not run.bot.lead_capture or state is None or not state.state.startswith(LEAD_STATE_PREFIX) or not text:
        return
    field_name = hooks.LEAD_FIELD_ALIASES.get(state.state[len(LEAD_STATE_PREFIX) :].strip().lower())
    if field_name is None:
        return
    _not_in_batch(run, "lead capture")
    problem = hooks.lead_fields_capture(contact=run.contact, fields={field_name: text[:255]}, actor=f"bot:{run.bot.pk}")
    run.notes.append(f"lead {field_name} not saved: {problem}" if problem else f"lead {field_name} saved")
