"""Deciding what an inbound message triggers, and recording where a contact is in the flows.

The conversation engine calls, inside the tenant's schema::

    state = conversation_state_get(contact=contact)           # templates.selectors
    decision = flow_match(text=message.body, payload_id=message.payload_id, state=state, bot=bot)
    if decision.template:
        send(render_template(decision.template, render_context(contact=..., lead=...)))
    conversation_state_advance(contact=contact, template=decision.template, state=decision.next_state)

``flow_match`` only reads; ``conversation_state_advance`` is the one write.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q

from templates.choices import NO_ACTION, TEXT_MATCH_TYPES, FlowAction, MatchType
from templates.models import ConversationState, FlowRule, MessageTemplate, TemplateButton, TemplateListRow
from templates.selectors import choice_get_by_payload, flow_settings_get
from templates.text import keyword_contains, keyword_equals, keyword_starts_with, normalise, regex_error, regex_matches


@dataclass(frozen=True)
class FlowDecision:
    """What to do with one inbound message.

    ``action``: a ``FlowAction`` value (``send_template``, ``set_state``, ``handoff``,
    ``ai``) or ``"none"`` (nothing matched and no fallback: the engine decides, e.g. stays
    silent or asks the AI). ``template``: send it when not None (also with ``set_state``
    and ``handoff``). ``next_state``: the new ``ConversationState.state``, or None to keep
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


def flow_match(
    *, text: str = "", payload_id: str = "", state: ConversationState | None = None, bot=None
) -> FlowDecision:
    """Decide what an inbound message triggers; reads only, writes nothing.

    ``bot`` (the ``conversations.Bot`` serving the conversation): rules scoped to that bot
    and tenant-wide rules (``bot`` empty) take part, rules of other bots do not; at equal
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

    if payload_id:
        choice = choice_get_by_payload(payload_id=payload_id)
        decision = _from_choice(choice, f"tap on {payload_id}") if choice else None
        if decision:
            return decision
        for rule in _active_rules(match_types={MatchType.PAYLOAD}, state=current_state, bot=bot):
            if rule.pattern.strip() == payload_id:
                return _from_rule(rule, f"payload {payload_id} matched rule '{rule.name}'")
        if choice is None and state is not None and state.last_template_id and text:
            choice = _choice_by_title(state.last_template_id, text)
            decision = _from_choice(choice, f"unknown payload {payload_id}; title matched") if choice else None
            if decision:
                return decision

    if text and text.strip():
        for rule in _active_rules(match_types=TEXT_MATCH_TYPES, state=current_state, bot=bot):
            if _text_matches(rule, text):
                return _from_rule(rule, f"text matched rule '{rule.name}' ({rule.match_type})")

    fallback = flow_settings_get().fallback_template
    if fallback is not None and fallback.is_sendable:
        return FlowDecision(
            action=FlowAction.SEND_TEMPLATE, template=fallback, next_state=None, rule=None, reason="fallback template"
        )
    return FlowDecision(action=NO_ACTION, template=None, next_state=None, rule=None, reason="no rule matched")


@transaction.atomic
def conversation_state_advance(
    *, contact, template: MessageTemplate | None = None, state: str | None = None
) -> ConversationState:
    """Record that ``template`` was sent to ``contact`` and/or move it to ``state``.

    ``template=None`` keeps ``last_template``; ``state=None`` keeps the state, ``""``
    clears it. Call inside the tenant's schema after the send is queued (an engine
    decision's ``template`` and ``next_state`` go straight in). Safe under concurrent
    deliveries for one contact: the row is created once and updated under a row lock.
    """
    row, _ = ConversationState.objects.get_or_create(contact=contact)
    row = ConversationState.objects.select_for_update().get(pk=row.pk)
    update_fields = ["updated_at"]
    if template is not None:
        row.last_template = template
        update_fields.append("last_template")
    if state is not None:
        row.state = state
        update_fields.append("state")
    row.save(update_fields=update_fields)
    return row


# --- internals ----------------------------------------------------------------------------


def _active_rules(*, match_types, state: str, bot) -> list[FlowRule]:
    scope = Q(bot__isnull=True) | Q(bot=bot) if bot is not None else Q(bot__isnull=True)
    rules = (
        FlowRule.objects.select_related("template")
        .prefetch_related("template__buttons", "template__rows")
        .filter(scope, is_active=True, match_type__in=list(match_types))
        # Only one bot's rules are left, so "bot set first" puts its own rules ahead of
        # tenant-wide ones at equal priority.
        .order_by("priority", F("bot_id").asc(nulls_last=True), "id")
    )
    return [
        rule
        for rule in rules
        if (not rule.required_state or rule.required_state == state)
        # A rule that would send a disabled template is skipped, not half-applied.
        and (rule.template is None or rule.template.is_sendable)
    ]


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


def _choice_by_title(template_id: int, text: str):
    wanted = normalise(text)
    for model in (TemplateButton, TemplateListRow):
        for choice in model.objects.select_related("template", "next_template").filter(template_id=template_id):
            if normalise(choice.title) == wanted:
                return choice
    return None
