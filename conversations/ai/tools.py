"""What the AI assistant can do: tool schemas for the model, and the code that validates and runs calls.

The model's tool calls are untrusted input. A call is executed only when its name is one of
``TOOLS``, its ``arguments`` string parses as a JSON object and that object validates
against the tool's JSON Schema (types, required properties, no extra properties); anything
else is *rejected*: never executed, answered to the model as an error, and logged
(``AIToolCallLog`` with ``outcome=rejected`` and the reason). The handlers re-check what the
schema cannot (the template key must exist in this tenant's schema).

Handlers run inside the tenant's schema, one transaction each (the services they call).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from bizmitra.errors import ApplicationError
from conversations.ai.choices import ToolOutcome
from conversations.ai.client import RawToolCall
from conversations.engine import hooks

logger = logging.getLogger(__name__)

TEMPLATE_KEY_PATTERN = r"^tmpl_[a-z0-9]{8}$"
LEAD_ACTOR = "ai:capture_lead"
AI_ACTOR = "ai"
# Tool results go back to the model; keep them and the logged arguments small.
ARGUMENTS_LOG_MAX_CHARS = 4_000
PROMPT_TEMPLATES_MAX = 25


class ToolRejected(Exception):
    """A well-formed call our code still refuses (e.g. a template key this tenant lacks)."""


@dataclass
class ToolContext:
    """What a tool call acts on, and what the calls of one reply decided so far."""

    conversation: Any
    inbound_message: Any
    handed_off: bool = False
    handoff_reason: str = ""
    template_key: str = ""
    lead_id: int | None = None

    @property
    def contact(self):
        return self.conversation.contact


@dataclass
class ToolCallResult:
    """What happened to one tool call (an ``AIToolCallLog`` row once the reply is logged)."""

    tool_call_id: str
    name: str
    arguments_raw: str
    outcome: str
    reason: str = ""
    arguments: dict[str, Any] | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def tool_message(self) -> dict[str, Any]:
        """The ``role: tool`` message that answers this call in the next round."""
        if self.outcome == ToolOutcome.EXECUTED:
            content = {"ok": True, **self.result}
        else:
            content = {"ok": False, "error": self.reason}
        return {"role": "tool", "tool_call_id": self.tool_call_id, "content": json.dumps(content)}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[[dict[str, Any], ToolContext], dict[str, Any]]

    def definition(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def _text(max_length: int, description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "description": description}


def _capture_lead(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    fields = {hooks.LEAD_FIELD_ALIASES[k]: v.strip() for k, v in args.items() if v.strip()}
    if not fields:
        raise ToolRejected("every value is empty; ask the customer first")
    # The leads app sits above conversations: reached through the engine's hooks.
    try:
        lead = hooks.lead_save(contact=ctx.contact, fields=fields, actor=LEAD_ACTOR)
    except hooks.LeadsUnavailable as exc:
        raise ToolRejected(str(exc)) from exc
    ctx.lead_id = lead.pk
    return {"lead_id": lead.pk, "stage": str(lead.stage), "saved": sorted(fields)}


def _handoff_to_human(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    # The one handoff writer: status, reason, the HandoffEvent row and the live event.
    from conversations.engine.handoff import conversation_handoff

    reason = args["reason"].strip()
    if not reason:
        raise ToolRejected("the reason is empty")
    conversation_handoff(conversation=ctx.conversation, by=AI_ACTOR, reason=reason)
    ctx.handed_off, ctx.handoff_reason = True, reason
    return {"status": "handed_off", "note": "A person from the business will reply; tell the customer so, briefly."}


def _send_template(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    from templates.selectors import template_get

    key = args["template_key"]
    if ctx.template_key:
        raise ToolRejected(f"template {ctx.template_key} is already being sent; one template per reply")
    # The tenant's own schema is the only place looked in, so another tenant's key is unknown here.
    template = template_get(key=key)
    if template is None:
        raise ToolRejected(f"there is no template with key {key}")
    if not template.is_sendable:
        raise ToolRejected(f"template {key} is not active")
    ctx.template_key = key
    return {"template": template.name, "note": "The template will be sent as the answer."}


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            name="capture_lead",
            description=(
                "Save what the customer told you about themselves and what they want, so the team can follow up. "
                "Call it as soon as the customer gives any of these details; pass only what they actually said."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "name": _text(200, "The customer's name."),
                    "email": _text(254, "The customer's email address."),
                    "phone": _text(32, "A phone number the customer gave, with country code if they said it."),
                    "location": _text(200, "Where the customer is (city, area)."),
                    "interest": _text(255, "The product or service the customer is interested in."),
                },
                "additionalProperties": False,
                "minProperties": 1,
            },
            handler=_capture_lead,
        ),
        Tool(
            name="handoff_to_human",
            description=(
                "Hand the conversation to a person at the business: when the customer asks for a human, is upset, "
                "or needs something you cannot do or do not know."
            ),
            parameters={
                "type": "object",
                "properties": {"reason": _text(255, "Why a person should take over, in a few words.")},
                "required": ["reason"],
                "additionalProperties": False,
            },
            handler=_handoff_to_human,
        ),
        Tool(
            name="send_template",
            description=(
                "Answer with one of the business's prepared messages (a menu, price list, brochure...) instead of "
                "writing text. Use only a key from the list of templates in your instructions."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "template_key": {
                        "type": "string",
                        "pattern": TEMPLATE_KEY_PATTERN,
                        "description": "The template's key, like tmpl_ab12cd34.",
                    }
                },
                "required": ["template_key"],
                "additionalProperties": False,
            },
            handler=_send_template,
        ),
    )
}

_VALIDATORS = {name: Draft202012Validator(tool.parameters) for name, tool in TOOLS.items()}


def tool_definitions() -> list[dict[str, Any]]:
    """The ``tools`` parameter of a chat completion request."""
    return [tool.definition() for tool in TOOLS.values()]


def tool_call_run(call: RawToolCall, *, context: ToolContext) -> ToolCallResult:
    """Validate one tool call and, when it is valid, execute it. Never raises."""
    result = ToolCallResult(
        tool_call_id=call.id,
        name=call.name[:64],
        arguments_raw=call.arguments[:ARGUMENTS_LOG_MAX_CHARS],
        outcome=ToolOutcome.REJECTED,
    )
    arguments, problem = _validated(call)
    if problem:
        result.reason = problem
        logger.warning("AI tool call %s rejected: %s", call.name[:64] or "?", problem)
        return result
    result.arguments = arguments
    try:
        result.result = TOOLS[call.name].handler(arguments, context)
    except ToolRejected as exc:
        result.reason = str(exc)
    except ApplicationError as exc:
        result.reason = _application_error_text(exc)
    except Exception as exc:  # a bug in a handler must not cost the customer their answer
        logger.exception("AI tool %s failed", call.name)
        result.outcome, result.reason = ToolOutcome.ERROR, f"internal error ({type(exc).__name__})"
    else:
        result.outcome = ToolOutcome.EXECUTED
    if result.outcome == ToolOutcome.REJECTED:
        logger.warning("AI tool call %s rejected: %s", call.name, result.reason)
    return result


def tool_call_refuse(call: RawToolCall, *, reason: str) -> ToolCallResult:
    """A call that is not run at all (e.g. after the last allowed round)."""
    return ToolCallResult(
        tool_call_id=call.id,
        name=call.name[:64],
        arguments_raw=call.arguments[:ARGUMENTS_LOG_MAX_CHARS],
        outcome=ToolOutcome.REJECTED,
        reason=reason,
    )


def templates_for_prompt() -> list[dict[str, str]]:
    """The tenant's sendable templates the model may pick with ``send_template``."""
    from templates.models import MessageTemplate

    rows = MessageTemplate.objects.filter(is_active=True).order_by("name", "id")
    listed = []
    for template in rows:
        if template.is_sendable:
            listed.append({"key": template.key, "name": template.name, "description": template.description})
        if len(listed) >= PROMPT_TEMPLATES_MAX:
            break
    return listed


def _validated(call: RawToolCall) -> tuple[dict[str, Any] | None, str]:
    if call.type and call.type != "function":
        return None, f"unsupported tool call type '{call.type[:32]}'"
    if call.name not in TOOLS:
        return None, f"unknown tool '{call.name[:64]}'"
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError as exc:
        return None, f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(arguments, dict):
        return None, "arguments must be a JSON object"
    errors = sorted(_VALIDATORS[call.name].iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if errors:
        return None, "invalid arguments: " + "; ".join(_schema_error_text(e) for e in errors[:5])
    return arguments, ""


def _schema_error_text(error) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def _application_error_text(exc: ApplicationError) -> str:
    details = "; ".join(f"{name}: {' '.join(map(str, reasons))}" for name, reasons in exc.fields.items())
    return f"{exc.message} ({details})" if details else exc.message
