"""Workflow rules: what a rule must contain, and the message it renders for one trigger.

Placeholders and parameter references follow Meta's template convention:
``{{1}}`` / a reference ``1`` is the first item of a list of variables (1-based),
``{{first_name}}`` / ``"first_name"`` a key of an object of variables.
"""

from typing import Any

from templates import text as template_text
from workflows.choices import Channel

MAPPING_KEYS = {"header", "body", "buttons"}
BUTTON_SUB_TYPES = {"url", "quick_reply", "copy_code"}

Variables = list | dict


class RenderError(ValueError):
    """The trigger's variables do not fill what the rule needs."""


def _ref_ok(ref: Any) -> bool:
    if isinstance(ref, bool):
        return False
    if isinstance(ref, int):
        return ref >= 1
    if isinstance(ref, str):
        return bool(ref)
    if isinstance(ref, dict):
        return set(ref) <= {"var", "parameter_name"} and "var" in ref and _ref_ok(ref["var"])
    return False


def _mapping_errors(mapping: Any) -> list[str]:
    if mapping in (None, {}):
        return []
    if not isinstance(mapping, dict):
        return ["Must be an object with 'header', 'body' and/or 'buttons'."]
    errors = []
    unknown = set(mapping) - MAPPING_KEYS
    if unknown:
        errors.append(f"Unknown keys {sorted(unknown)}; use 'header', 'body', 'buttons'.")
    for part in ("header", "body"):
        refs = mapping.get(part, [])
        if not isinstance(refs, list) or not all(_ref_ok(r) for r in refs):
            errors.append(
                f"'{part}' must be a list of references: a 1-based position, a variable name, "
                "or {'var': ..., 'parameter_name': ...}."
            )
    buttons = mapping.get("buttons", [])
    if not isinstance(buttons, list):
        errors.append("'buttons' must be a list.")
        buttons = []
    for i, button in enumerate(buttons):
        if (
            not isinstance(button, dict)
            or not isinstance(button.get("index"), int)
            or button.get("sub_type") not in BUTTON_SUB_TYPES
            or not isinstance(button.get("parameters", []), list)
            or not all(_ref_ok(r) for r in button.get("parameters", []))
        ):
            errors.append(
                f"buttons[{i}] must be {{'index': <int>, 'sub_type': 'url'|'quick_reply'|'copy_code', "
                "'parameters': [references]}."
            )
    return errors


def workflow_errors(
    *,
    channel: str,
    template_name: str,
    body: str,
    email_subject: str,
    tenant_template_id: int | None,
    parameter_mapping: Any,
) -> dict[str, list[str]]:
    """Field errors of a rule's message (empty when the rule can send)."""
    errors: dict[str, list[str]] = {}
    if tenant_template_id is not None:
        problems = _tenant_template_errors(tenant_template_id, channel=channel)
        if template_name or body:
            problems.append("A workflow sends one message: a tenant template, a Meta template name or a body.")
        if problems:
            errors["tenant_template_id"] = problems
    elif channel == Channel.WHATSAPP:
        if not template_name and not body:
            errors["template_name"] = [
                "A WhatsApp workflow needs a Meta template name (required outside the 24-hour window) or a body."
            ]
    if channel == Channel.WHATSAPP:
        if email_subject:
            errors["email_subject"] = ["Only email workflows have a subject."]
    elif channel == Channel.EMAIL:
        if template_name:
            errors["template_name"] = ["Meta templates are WhatsApp-only; an email workflow sends its body."]
        if not body:
            errors["body"] = ["An email workflow needs a body."]
        if not email_subject:
            errors["email_subject"] = ["An email workflow needs a subject."]
    mapping_errors = _mapping_errors(parameter_mapping)
    if mapping_errors:
        errors["parameter_mapping"] = mapping_errors
    return errors


def tenant_template_get(tenant_template_id: int):
    """The tenant's ``MessageTemplate`` with this id (buttons and rows prefetched), or None.

    Call inside the tenant's schema: templates live there, so another tenant's id finds nothing.
    """
    from templates.selectors import template_list

    return template_list().filter(pk=tenant_template_id).first()


def _tenant_template_errors(tenant_template_id: int, *, channel: str) -> list[str]:
    if channel != Channel.WHATSAPP:
        return ["Tenant templates are WhatsApp messages; an email workflow sends its body."]
    template = tenant_template_get(tenant_template_id)
    if template is None:
        return ["No template with this id in this business."]
    if not template.is_sendable:
        return [f"Template '{template.name}' ({template.key}) cannot be sent: inactive, or not approved by Meta."]
    return []


def _lookup(variables: Variables, ref: Any) -> str:
    if isinstance(ref, dict):
        ref = ref["var"]
    if isinstance(ref, str) and ref.isdigit() and isinstance(variables, list):
        ref = int(ref)
    if isinstance(ref, int):
        if not isinstance(variables, list) or not 1 <= ref <= len(variables):
            count = len(variables) if isinstance(variables, list) else 0
            raise RenderError(f"needs variable {ref} but the trigger sent {count} positional variables")
        value = variables[ref - 1]
    else:
        if not isinstance(variables, dict) or ref not in variables:
            raise RenderError(f"needs the variable '{ref}', which the trigger did not send")
        value = variables[ref]
    return "" if value is None else str(value)


def substitute(text: str, variables: Variables) -> str:
    """``text`` with every ``{{n}}`` / ``{{name}}`` replaced; a missing variable is a RenderError.
    The same placeholder syntax as message templates (``templates.text``)."""
    return template_text.substitute(text, lambda slot: _lookup(variables, slot))


def _text_parameter(variables: Variables, ref: Any) -> dict:
    parameter = {"type": "text", "text": _lookup(variables, ref)}
    if isinstance(ref, dict) and ref.get("parameter_name"):
        parameter["parameter_name"] = ref["parameter_name"]
    return parameter


def _template_components(mapping: dict, variables: Variables) -> list[dict]:
    if not mapping:
        # No mapping: every variable fills the body, positional for a list, named for an object.
        if isinstance(variables, dict):
            parameters = [{"type": "text", "text": _lookup(variables, k), "parameter_name": k} for k in variables]
        else:
            parameters = [{"type": "text", "text": _lookup(variables, i + 1)} for i in range(len(variables))]
        return [{"type": "body", "parameters": parameters}] if parameters else []
    components = []
    for part in ("header", "body"):
        refs = mapping.get(part) or []
        if refs:
            components.append({"type": part, "parameters": [_text_parameter(variables, r) for r in refs]})
    for button in mapping.get("buttons") or []:
        sub_type = button["sub_type"]
        values = [_lookup(variables, r) for r in button.get("parameters", [])]
        if sub_type == "quick_reply":
            parameters = [{"type": "payload", "payload": v} for v in values]
        elif sub_type == "copy_code":
            parameters = [{"type": "coupon_code", "coupon_code": v} for v in values]
        else:
            parameters = [{"type": "text", "text": v} for v in values]
        components.append(
            {"type": "button", "sub_type": sub_type, "index": str(button["index"]), "parameters": parameters}
        )
    return components


def trigger_context(variables: Variables) -> dict[str, Any]:
    """Trigger variables as a template's ``trigger`` context: a list fills ``{{1}}``, ``{{2}}`` …"""
    if isinstance(variables, dict):
        return dict(variables)
    return {str(i): value for i, value in enumerate(variables, start=1)}


def _tenant_template_content(workflow, variables: Variables, phone: str) -> dict:
    from conversations.models import Contact
    from templates.rendering import render_context, render_template

    template = tenant_template_get(workflow.tenant_template_id)
    if template is None:
        raise RenderError(f"uses tenant template {workflow.tenant_template_id}, which no longer exists")
    if not template.is_sendable:
        raise RenderError(f"uses template '{template.name}' ({template.key}), which is inactive or not approved")
    contact = Contact.objects.filter(wa_id=phone.lstrip("+")).first() if phone else None
    rendered = render_template(
        template,
        render_context(trigger=trigger_context(variables), contact=contact, lead=_lead_for(contact, phone)),
    )
    return {"type": rendered["type"], rendered["type"]: rendered["content"]}


def _lead_for(contact, phone: str):
    from leads.models import Lead

    if contact is not None:
        lead = Lead.objects.filter(contact=contact).first()
        if lead is not None:
            return lead
    return Lead.objects.filter(phone=phone).first() if phone else None


def content_render(*, workflow, variables: Variables, phone: str = "") -> dict:
    """The message ``workflow`` sends for these trigger variables (stored on the job).

    A tenant template is rendered with ``templates.rendering`` from the trigger variables
    (a list fills ``{{1}}``, ``{{2}}`` …; an object its names), the contact with this
    ``phone`` (E.164) and their lead, when we know them. Raises RenderError when a
    variable the rule refers to is missing, or its tenant template can no longer be sent.
    """
    if workflow.tenant_template_id is not None:
        return _tenant_template_content(workflow, variables, phone)
    if workflow.channel == Channel.EMAIL:
        return {
            "type": "email",
            "subject": substitute(workflow.email_subject, variables),
            "body": substitute(workflow.body, variables),
        }
    if workflow.template_name:
        template: dict[str, Any] = {"name": workflow.template_name, "language": {"code": workflow.language or "en_US"}}
        components = _template_components(workflow.parameter_mapping or {}, variables)
        if components:
            template["components"] = components
        return {"type": "template", "template": template}
    return {"type": "text", "text": {"body": substitute(workflow.body, variables)}}
