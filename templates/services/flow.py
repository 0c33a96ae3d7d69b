"""Deciding what an inbound message triggers.

The conversation engine (``conversations.engine``, above this app) calls, inside the
tenant's schema::

    state = conversation_state_get(contact=contact)           # conversations.engine.flow_state
    decision = flow_match(text=message.body, payload_id=message.payload_id, state=state, bot=bot)
    if decision.template:
        send(render_template(decision.template, render_context(contact=..., lead=...)))
    conversation_state_advance(contact=contact, template=decision.template, state=decision.next_state)

``flow_match`` only reads; the contact's state is the engine's to write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from templates.choices import NO_ACTION, TEXT_MATCH_TYPES, FlowAction, MatchType
from templates.models import FlowRule, MessageTemplate, TemplateButton, TemplateListRow
from templates.selectors import FlowBook, flow_book
from templates.text import keyword_contains, keyword_equals, keyword_starts_with, normalise, regex_error, regex_matches


class FlowState(Protocol):
    """What ``flow_match`` reads of a contact's place in the flows
    (``conversations.ConversationState`` in practice)."""

    state: str
    last_template_id: int | None


@dataclass(frozen=True)
class FlowDecision:
    """What to do with one inbound message.

    ``action``: a ``FlowAction`` value (``send_template``, ``set_state``, ``handoff``,
    ``ai``) or ``"none"`` (nothing matched and no fallback: the engine decides, e.g. stays
    silent or asks the AI). ``template``: send it when not None (also with ``set_state``
    and ``handoff``). ``next_state``: the contact's new ``FlowState.state``, or None to keep
    it. ``rule``: the matching rule (``rule.builtin_intent`` tells opt-out/opt-in apart),
    None for button taps and the fallback. ``choice``: the tapped button/row, if any.
    ``reason``: one line for logs and the inbox.
    """

    action: str
    template: MessageTemplate | None
    next_state: str | None
    rule: FlowRule | None
    reason: str
    choice: TemplateButton | TemplateListRow | None = None


def flow_match(*, text: str = "", payload_id: str = "", state: FlowState | None = None, bot=None) -> FlowDecision:
    """Decide what an inbound message triggers; reads only, writes nothing.

    ``bot`` (the bot serving the conversation, anything with ``.pk``): rules scoped to that
    bot and tenant-wide rules (``bot_id`` empty) take part, rules of other bots do not; at equal
    priority the bot's own rules come first. ``bot=None``: tenant-wide rules only.
    Buttons/rows and the fallback template belong to templates, so are the same for every bot.

    Order:
    1. ``payload_id`` of a known button/row (unique in the tenant, so taps on an old menu
       resolve too) with a ``next_template`` or ``next_state``: follow it;
    2. an active ``payload`` rule for that id, by priority;
    3. an unknown payload id: the button/row of ``state.last_template`` whose title
       equals ``text`` (Meta template quick-replies and ids we no longer have);
    4. active text rules by priority, matched against ``text`` (for a tap: its title),
       skipping rules whose ``required_state`` differs from ``state.state`` and rules
       whose template is inactive;
    5. the tenant's fallback template; else action ``"none"``.
    Call inside the tenant's schema.
    """
    current_state = state.state if state is not None else ""
    payload_id = (payload_id or "").strip()
    book = flow_book()

    if payload_id:
        choice = book.choices_by_payload.get(payload_id)
        decision = _from_choice(choice, f"tap on {payload_id}") if choice else None
        if decision:
            return decision
        for rule in _active_rules(book, match_types={MatchType.PAYLOAD}, state=current_state, bot=bot):
            if rule.pattern.strip() == payload_id:
                return _from_rule(rule, f"payload {payload_id} matched rule '{rule.name}'")
        if choice is None and state is not None and state.last_template_id and text:
            choice = _choice_by_title(book, state.last_template_id, text)
            decision = _from_choice(choice, f"unknown payload {payload_id}; title matched") if choice else None
            if decision:
                return decision

    if text and text.strip():
        for rule in _active_rules(book, match_types=TEXT_MATCH_TYPES, state=current_state, bot=bot):
            if _text_matches(rule, text):
                return _from_rule(rule, f"text matched rule '{rule.name}' ({rule.match_type})")

    fallback = book.fallback_template
    if fallback is not None and fallback.is_sendable:
        return FlowDecision(
            action=FlowAction.SEND_TEMPLATE, template=fallback, next_state=None, rule=None, reason="fallback template"
        )
    return FlowDecision(action=NO_ACTION, template=None, next_state=None, rule=None, reason="no rule matched")


# --- internals ----------------------------------------------------------------------------


def _active_rules(book: FlowBook, *, match_types, state: str, bot) -> list[FlowRule]:
    bot_id = bot.pk if bot is not None else None
    rules = [
        rule
        for rule in book.rules
        if rule.match_type in match_types
        and (rule.bot_id is None or rule.bot_id == bot_id)
        and (not rule.required_state or rule.required_state == state)
        # A rule that would send a disabled template is skipped, not half-applied.
        and (rule.template is None or rule.template.is_sendable)
    ]
    # At equal priority the bot's own rules come before tenant-wide ones.
    return sorted(rules, key=lambda rule: (rule.priority, rule.bot_id is None, rule.pk))


def _text_matches(rule: FlowRule, text: str) -> bool:
    if rule.match_type == MatchType.EQUALS:
        return keyword_equals(text, rule.pattern)
    if rule.match_type == MatchType.CONTAINS:
        return keyword_contains(text, rule.pattern)
    if rule.match_type == MatchType.STARTS_WITH:
        return keyword_starts_with(text, rule.pattern)
    if rule.match_type == MatchType.REGEX:
        # A broken pattern (written around validation) must not stop later rules.
        return regex_error(rule.pattern) is None and regex_matches(text, rule.pattern)
    return False


def _from_rule(rule: FlowRule, reason: str) -> FlowDecision:
    return FlowDecision(
        action=rule.action,
        template=rule.template if rule.action != FlowAction.AI else None,
        next_state=rule.next_state or None,
        rule=rule,
        reason=reason,
    )


def _from_choice(choice, reason: str) -> FlowDecision | None:
    """The decision a wired button/row makes, or None when it has no usable wiring."""
    target = choice.next_template
    if target is not None and not target.is_sendable:
        target = None
    if target is None and not choice.next_state:
        return None
    return FlowDecision(
        action=FlowAction.SEND_TEMPLATE if target is not None else FlowAction.SET_STATE,
        template=target,
        next_state=choice.next_state or None,
        rule=None,
        reason=f"{reason}: '{choice.title}' on {choice.template.key}",
        choice=choice,
    )


def _choice_by_title(book: FlowBook, template_id: int, text: str):
    wanted = normalise(text)
    for choice in book.choices_by_template.get(template_id, ()):
        if normalise(choice.title) == wanted:
            return choice
    return None
