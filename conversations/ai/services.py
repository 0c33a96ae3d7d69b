"""The AI assistant: answer one inbound message, and the writes around it.

Engine-facing (call inside the tenant's schema):

``assistant_reply(*, conversation, inbound_message) -> AssistantReply``
    Budget checks, memory, prompt, the call, tool execution, logging. Never raises for
    AI trouble: when the agent cannot answer, ``kind == "fallback"`` and ``reason`` says
    why (``budget_exhausted``, ``contact_hourly_cap``, ``ai_timeout``, ``ai_error``,
    ``ai_disabled``, ``ai_off_no_endpoint``: no key or base URL configured, so nothing is
    called); the engine then sends the tenant's fallback template, so the customer
    always gets an answer. Makes HTTP requests: do not call it inside a transaction that
    holds locks others wait for.

What the engine does with a reply:

- ``template_key`` set: send that template (already checked to exist in this tenant);
- ``text`` non-empty: send it, then ``memory_append(role="assistant", content=text)``;
- ``kind == "handoff"``: the conversation is already handed off by the ``handoff_to_human``
  tool through ``conversations.engine.handoff.conversation_handoff`` (status, reason, the
  ``HandoffEvent``, ``conversation.updated``); the bot stays quiet from now on;
- ``kind == "fallback"``: send the fallback template.

Also here: ``ai_settings_update``; ``knowledge_fetch_start`` lives in
``conversations.ai.knowledge``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction

from bizmitra import metrics
from bizmitra.errors import ValidationFailed
from conversations.ai import budgets, memory
from conversations.ai.choices import CallOutcome, FallbackReason, ToolOutcome
from conversations.ai.client import AIError, AITimeout, Completion, chat_complete
from conversations.ai.selectors import AI_OFF_MESSAGE, ai_endpoint_configured, ai_settings_get
from conversations.ai.tools import (
    ToolCallResult,
    ToolContext,
    templates_for_prompt,
    tool_call_refuse,
    tool_call_run,
    tool_definitions,
)
from conversations.models import KNOWLEDGE_MAX_CHARS, AIAssistantSettings, AICallLog, AIToolCallLog

logger = logging.getLogger(__name__)

MAX_ROUNDS = 3
DEFAULT_SYSTEM_PROMPT = (
    "You are the WhatsApp assistant of {business}. Answer the customer's last message briefly, in their "
    "language, as plain text for WhatsApp. Use only the business profile and knowledge below for facts about "
    "the business and never invent prices, stock, dates or policies: when you do not know, say so and offer "
    "to connect the customer with a person. Save the customer's details with capture_lead when they share "
    "them; hand over with handoff_to_human when they ask for a person or you cannot help."
)


@dataclass
class AssistantReply:
    """What the agent wants the engine to do about one inbound message.

    ``kind``: ``"text"`` (send ``text``), ``"template"`` (send ``template_key``),
    ``"handoff"`` (already handed off; send ``text`` and/or ``template_key`` if set),
    ``"fallback"`` (send the tenant's fallback template; ``reason`` says why).
    ``tool_calls``: every tool call of this reply with its outcome. ``log_id``: the
    ``AICallLog`` row.
    """

    kind: str
    text: str = ""
    template_key: str = ""
    reason: str = ""
    tool_calls: list[ToolCallResult] = field(default_factory=list)
    log_id: int | None = None


@dataclass
class _Attempt:
    """Figures of one ``assistant_reply`` gathered for its ``AICallLog`` row."""

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    rounds: int = 0
    tool_calls: list[ToolCallResult] = field(default_factory=list)

    def add(self, completion: Completion) -> None:
        self.rounds += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.latency_ms += completion.latency_ms


def assistant_reply(*, conversation, inbound_message, system_prompt: str = "") -> AssistantReply:
    """Answer ``inbound_message`` with the AI assistant (see the module docstring). Tenant schema.

    ``system_prompt`` (a bot's own instructions) replaces the tenant's for this reply.
    """
    schema_name = connection.schema_name
    config = ai_settings_get()
    attempt = _Attempt(model=config.model or django_settings.OPENAI_MODEL)
    contact_id = conversation.contact_id

    if not config.enabled:
        return _fallback(attempt, conversation, inbound_message, FallbackReason.AI_DISABLED, CallOutcome.FALLBACK)
    if not ai_endpoint_configured(config=config):
        # Nothing to call: no request that can only fail with a connection error, and no
        # customer kept waiting for it; the engine sends the fallback.
        return _fallback(
            attempt,
            conversation,
            inbound_message,
            FallbackReason.AI_OFF_NO_ENDPOINT,
            CallOutcome.FALLBACK,
            AI_OFF_MESSAGE,
        )
    # Remembered even when a limit stops the call: the fallback the engine sends answers it.
    history = _history(schema_name=schema_name, conversation=conversation, inbound_message=inbound_message)
    used = budgets.tokens_used_today(schema_name=schema_name)
    if used >= config.daily_token_budget:
        detail = f"{used} of {config.daily_token_budget} tokens used today"
        return _fallback(
            attempt, conversation, inbound_message, FallbackReason.BUDGET_EXHAUSTED, CallOutcome.FALLBACK, detail
        )
    if not budgets.contact_call_take(schema_name=schema_name, contact_id=contact_id, cap=config.per_contact_hourly_cap):
        detail = f"more than {config.per_contact_hourly_cap} AI answers to this contact within an hour"
        return _fallback(
            attempt, conversation, inbound_message, FallbackReason.CONTACT_HOURLY_CAP, CallOutcome.FALLBACK, detail
        )

    messages: list[dict[str, Any]] = [
        {
            "role": "system",
            "content": system_prompt_build(config=config, contact=conversation.contact, instructions=system_prompt),
        }
    ]
    messages += [{"role": entry["role"], "content": entry["content"]} for entry in history]
    context = ToolContext(conversation=conversation, inbound_message=inbound_message)
    tools = tool_definitions()

    text = ""
    for round_number in range(1, MAX_ROUNDS + 1):
        last_round = round_number == MAX_ROUNDS
        try:
            completion = chat_complete(
                model=attempt.model,
                messages=messages,
                tools=tools,
                temperature=config.temperature,
                timeout=config.timeout_seconds,
                api_key=str(config.api_key or ""),
                base_url=config.base_url,
                # The last round must end in text: no further round could answer a tool call.
                tool_choice="none" if last_round else None,
            )
        except AITimeout as exc:
            return _failed(attempt, conversation, inbound_message, context, FallbackReason.AI_TIMEOUT, str(exc))
        except AIError as exc:
            return _failed(attempt, conversation, inbound_message, context, FallbackReason.AI_ERROR, str(exc))
        attempt.add(completion)
        metrics.ai_completion(completion)
        budgets.tokens_record(schema_name=schema_name, tokens=completion.prompt_tokens + completion.completion_tokens)

        if not completion.tool_calls:
            text = completion.text
            break
        if last_round:
            attempt.tool_calls += [
                tool_call_refuse(call, reason=f"no tool calls after round {MAX_ROUNDS}")
                for call in completion.tool_calls
            ]
            text = completion.text
            break
        results = [tool_call_run(call, context=context) for call in completion.tool_calls]
        attempt.tool_calls += results
        if context.template_key:
            # The template is the answer; asking the model for text as well would double it.
            break
        messages.append(completion.assistant_message)
        messages += [result.tool_message() for result in results]

    rejected = any(r.outcome != ToolOutcome.EXECUTED for r in attempt.tool_calls)
    outcome = CallOutcome.REJECTED_TOOL if rejected else CallOutcome.OK
    if context.handed_off:
        reply = AssistantReply(
            kind="handoff", text=text, template_key=context.template_key, reason=context.handoff_reason
        )
    elif context.template_key:
        reply = AssistantReply(kind="template", template_key=context.template_key)
    elif text:
        reply = AssistantReply(kind="text", text=text)
    else:
        return _failed(attempt, conversation, inbound_message, context, FallbackReason.AI_ERROR, "empty answer")
    detail = "; ".join(f"{r.name or '?'}: {r.reason}" for r in attempt.tool_calls if r.outcome != "executed")
    return _logged(reply, attempt, conversation, inbound_message, outcome=outcome, reason="", detail=detail)


def system_prompt_build(*, config: AIAssistantSettings, contact=None, instructions: str = "") -> str:
    """The system message: instructions, business profile, knowledge, sendable templates."""
    instructions = (
        instructions.strip()
        or (config.system_prompt or "").strip()
        or DEFAULT_SYSTEM_PROMPT.format(business=_tenant_name() or "the business")
    )
    parts = [instructions]
    if config.business_profile.strip():
        parts.append("# Business profile\n" + config.business_profile.strip())
    if config.knowledge.strip():
        parts.append("# Knowledge\n" + config.knowledge.strip()[:KNOWLEDGE_MAX_CHARS])
    templates = templates_for_prompt()
    if templates:
        lines = [
            f"- {t['key']}: {t['name']}" + (f" ({t['description'].strip()[:200]})" if t["description"].strip() else "")
            for t in templates
        ]
        parts.append("# Prepared messages you can send with send_template\n" + "\n".join(lines))
    customer = "They write on WhatsApp, so their phone number is already known: do not ask for it."
    if contact is not None and contact.profile_name:
        customer = f"Their WhatsApp profile name is {contact.profile_name[:100]!r}. " + customer
    parts.append("# The customer\n" + customer)
    return "\n\n".join(parts)


AI_SETTINGS_FIELDS = (
    "enabled",
    "model",
    "system_prompt",
    "temperature",
    "api_key",
    "base_url",
    "business_profile",
    "knowledge",
    "daily_token_budget",
    "per_contact_hourly_cap",
    "timeout_seconds",
)


@transaction.atomic
def ai_settings_update(**changes: Any) -> AIAssistantSettings:
    """Change the tenant's AI settings (creating the row on first save). Tenant schema.

    Only ``AI_SETTINGS_FIELDS``; ``api_key=""`` removes the tenant's own key. Raises
    ``ValidationFailed`` naming the fields that break the model's limits.
    """
    unknown = sorted(set(changes) - set(AI_SETTINGS_FIELDS))
    if unknown:
        raise ValidationFailed("Unknown settings.", fields={name: ["Not a setting."] for name in unknown})
    config, _ = AIAssistantSettings.objects.select_for_update().get_or_create(pk=AIAssistantSettings.SINGLETON_PK)
    for name, value in changes.items():
        setattr(config, name, value)
    try:
        config.full_clean(exclude=["id"])
    except DjangoValidationError as exc:
        raise ValidationFailed("Invalid AI settings.", fields=exc.message_dict) from exc
    if changes:
        config.save(update_fields=[*changes, "updated_at"])
    return config


def assistant_prompt_try(*, message: str) -> Completion:
    """Ask the configured endpoint (the tenant's saved model, base URL, key and prompt) to
    answer ``message`` as a customer's first message, for the settings page's "test the
    prompt" box: no tools, no memory, no call log; the tokens count against today's budget.
    Tenant schema. Raises ``ValidationFailed`` when no endpoint is configured, else
    ``AITimeout``/``AIError`` with the provider's error."""
    message = (message or "").strip()
    if not message:
        raise ValidationFailed("Write a message to test.", fields={"message": ["Write what a customer would send."]})
    config = ai_settings_get()
    if not ai_endpoint_configured(config=config):
        raise ValidationFailed(AI_OFF_MESSAGE, fields={"message": [AI_OFF_MESSAGE + "."]})
    completion = chat_complete(
        model=config.model or django_settings.OPENAI_MODEL,
        messages=[
            {"role": "system", "content": system_prompt_build(config=config)},
            {"role": "user", "content": message[:2000]},
        ],
        tools=None,
        temperature=config.temperature,
        timeout=config.timeout_seconds,
        api_key=str(config.api_key or ""),
        base_url=config.base_url,
    )
    budgets.tokens_record(
        schema_name=connection.schema_name, tokens=completion.prompt_tokens + completion.completion_tokens
    )
    return completion


def _history(*, schema_name: str, conversation, inbound_message) -> list[dict]:
    """The last ``MEMORY_WINDOW`` messages, ending with the one being answered."""
    window = memory.memory_get(schema_name=schema_name, contact_id=conversation.contact_id)
    if not window:
        window = memory.memory_seed(schema_name=schema_name, conversation=conversation)
    # A re-run for the same message (task retry) must not remember it twice.
    if not any(entry.get("message_id") == inbound_message.pk for entry in window):
        window = memory.memory_append(
            schema_name=schema_name,
            contact_id=conversation.contact_id,
            role="user",
            content=memory.message_text(inbound_message) or "[empty message]",
            message_id=inbound_message.pk,
        )
    return window


def _tenant_name() -> str:
    tenant = getattr(connection, "tenant", None)
    if getattr(tenant, "name", None):
        return tenant.name
    from tenants.models import Tenant

    return Tenant.objects.filter(schema_name=connection.schema_name).values_list("name", flat=True).first() or ""


def _fallback(attempt, conversation, inbound_message, reason: str, outcome: str, detail: str = "") -> AssistantReply:
    return _logged(
        AssistantReply(kind="fallback", reason=reason),
        attempt,
        conversation,
        inbound_message,
        outcome=outcome,
        reason=reason,
        detail=detail,
    )


def _failed(attempt, conversation, inbound_message, context: ToolContext, reason: str, detail: str) -> AssistantReply:
    """The endpoint failed or gave nothing usable; a handoff already made still stands."""
    outcome = {FallbackReason.AI_TIMEOUT: CallOutcome.TIMEOUT}.get(reason, CallOutcome.ERROR)
    logger.warning("AI assistant could not answer message %s: %s (%s)", inbound_message.pk, reason, detail)
    if context.handed_off:
        reply = AssistantReply(kind="handoff", reason=context.handoff_reason)
    else:
        reply = AssistantReply(kind="fallback", reason=reason)
    return _logged(reply, attempt, conversation, inbound_message, outcome=outcome, reason=reason, detail=detail)


def _logged(
    reply: AssistantReply, attempt: _Attempt, conversation, inbound_message, *, outcome: str, reason: str, detail: str
) -> AssistantReply:
    metrics.AI_CALLS.labels(outcome=outcome).inc()
    with transaction.atomic():
        log = AICallLog.objects.create(
            contact_id=conversation.contact_id,
            conversation=conversation,
            inbound_message=inbound_message,
            model=attempt.model[:100],
            prompt_tokens=attempt.prompt_tokens,
            completion_tokens=attempt.completion_tokens,
            latency_ms=attempt.latency_ms,
            rounds=attempt.rounds,
            outcome=outcome,
            reason=reason,
            detail=detail[:2000],
            reply_kind=reply.kind,
        )
        AIToolCallLog.objects.bulk_create(
            AIToolCallLog(
                call=log,
                tool_call_id=r.tool_call_id[:128],
                name=r.name,
                arguments=r.arguments_raw,
                outcome=r.outcome,
                reason=r.reason,
                result=r.result,
            )
            for r in attempt.tool_calls
        )
    reply.tool_calls = attempt.tool_calls
    reply.log_id = log.pk
    return reply
