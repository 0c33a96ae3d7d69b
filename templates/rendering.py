"""Turn a ``MessageTemplate`` plus a context into the Graph message ``{type, content}``.

``render_template(template, context)`` is pure (it reads the template and its prefetched
buttons/rows, writes nothing, calls nothing) and its result feeds
``payloads.build_message_payload(to=..., type=r["type"], content=r["content"])``
or ``conversations.services.outbound.message_send(to=..., **r)``.

Variables
    ``{{first_name}}``, ``{{lead.city}}`` (a dotted path into the context) or ``{{1}}``.
    A slot is looked up as ``template.variables[slot]["source"]`` (default: the slot
    itself) in the context: first as a plain key, then as a dotted path through dicts
    and attributes. Variables are filled in ``header_text``, ``body`` and ``footer``;
    button and row titles are sent as typed (they must stay within Meta's limits).

Missing values
    A missing, None or empty value renders as ``template.variables[slot]["fallback"]``
    when set, else as ``""`` in text and interactive messages ("Hi {{first_name}}!" ->
    "Hi !": give greetings a fallback such as "there"). Meta rejects empty template
    parameters, so a Meta template parameter with neither value nor fallback is sent as
    ``META_EMPTY_PARAMETER`` ("-"). A header or footer that renders empty is left out.

Meta templates
    Body and text-header variables become ``parameters`` of type text: named templates
    send ``parameter_name`` (Meta's ``parameter_format: NAMED``), positional ones send
    the values in slot order. Image/video/document headers send ``header_media_link``
    (or the context's ``header_media_link``). Quick-reply buttons send our button's
    ``payload_id`` as their payload, so taps branch like interactive buttons; URL buttons
    with a ``{{1}}`` suffix take that slot from the context.

Build contexts with ``render_context(contact=..., lead=..., trigger=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from templates.choices import ParameterFormat, TemplateKind
from templates.text import VARIABLE, substitute, variable_slots

META_EMPTY_PARAMETER = "-"
_MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")

Resolver = Callable[[str], str]


def render_template(template, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Graph message ``{"type": ..., "content": ...}`` for ``template`` filled from ``context``.

    Does not validate against Meta's limits: ``build_message_payload`` does that when
    the message is sent (raising ``OutboundValidationError``). Prefetch ``buttons`` and
    ``rows`` when rendering many templates.
    """
    context = context or {}
    if template.kind == TemplateKind.META_TEMPLATE:
        return {"type": "template", "content": _meta_content(template, context)}
    message_type, content = build_content(
        kind=template.kind,
        header_text=template.header_text,
        body=template.body,
        footer=template.footer,
        list_button=template.list_button,
        buttons=template.buttons.all() if template.kind == TemplateKind.INTERACTIVE_BUTTON else (),
        rows=template.rows.all() if template.kind == TemplateKind.INTERACTIVE_LIST else (),
        resolve=_resolver(template.variables, context, empty=""),
    )
    return {"type": message_type, "content": content}


def build_content(
    *,
    kind: str,
    header_text: str = "",
    body: str = "",
    footer: str = "",
    list_button: str = "",
    buttons: Iterable[Any] = (),
    rows: Iterable[Any] = (),
    resolve: Resolver | None = None,
) -> tuple[str, dict[str, Any]]:
    """Meta's message object for a text or interactive template, from plain values.

    ``buttons``/``rows`` are anything with ``payload_id``/``title`` (rows also
    ``description`` and ``section_title``): model instances, saved or not. Without
    ``resolve`` the variables stay as typed (validation measures the template itself).
    """
    fill = (lambda text: substitute(text, resolve)) if resolve else (lambda text: text or "")
    if kind == TemplateKind.TEXT:
        return "text", {"body": fill(body)}

    content: dict[str, Any] = {}
    if kind == TemplateKind.INTERACTIVE_BUTTON:
        content["type"] = "button"
    elif kind == TemplateKind.INTERACTIVE_LIST:
        content["type"] = "list"
    else:
        raise ValueError(f"build_content cannot build a {kind!r} template")
    header = fill(header_text)
    if header.strip():
        content["header"] = {"type": "text", "text": header}
    content["body"] = {"text": fill(body)}
    footer_text = fill(footer)
    if footer_text.strip():
        content["footer"] = {"text": footer_text}
    if kind == TemplateKind.INTERACTIVE_BUTTON:
        content["action"] = {
            "buttons": [{"type": "reply", "reply": {"id": b.payload_id, "title": b.title}} for b in buttons]
        }
    else:
        content["action"] = {"button": list_button, "sections": list_sections(rows)}
    return "interactive", content


def list_sections(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Group rows into Meta's sections by ``section_title``, in order of first appearance.

    A lone section keeps its title only when it has one (Meta needs titles once there
    are two or more sections; ``build_message_payload`` enforces that).
    """
    sections: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        item = {"id": row.payload_id, "title": row.title}
        if row.description:
            item["description"] = row.description
        sections.setdefault(row.section_title or "", []).append(item)
    return [{"title": title, "rows": items} if title else {"rows": items} for title, items in sections.items()]


def render_context(
    *,
    contact: Any = None,
    lead: Any = None,
    trigger: Mapping[str, Any] | None = None,
    business_name: str = "",
) -> dict[str, Any]:
    """The context ``render_template`` reads, from a contact, a lead and a trigger payload.

    Nested under ``contact``, ``lead`` and ``trigger`` (for ``{{lead.city}}``) and also
    flattened at the top level (for ``{{first_name}}``), where the trigger wins over the
    lead and the lead over the contact. The contact gives ``name`` (WhatsApp profile
    name, untrusted), ``first_name``, ``wa_id`` and ``phone``; a lead (model instance or
    dict) gives its fields, and ``first_name`` from its ``name`` when it has none.
    """
    context: dict[str, Any] = {}
    if business_name:
        context["business_name"] = business_name
    if contact is not None:
        name = (getattr(contact, "profile_name", "") or "").strip()
        contact_values = {
            "name": name,
            "first_name": name.split()[0] if name else "",
            "wa_id": getattr(contact, "wa_id", "") or "",
            "phone": getattr(contact, "recipient", "") or "",
        }
        context["contact"] = contact_values
        context.update({k: v for k, v in contact_values.items() if v})
    if lead is not None:
        lead_values = _as_dict(lead)
        if not lead_values.get("first_name") and isinstance(lead_values.get("name"), str) and lead_values["name"]:
            lead_values["first_name"] = lead_values["name"].split()[0]
        context["lead"] = lead_values
        context.update({k: v for k, v in lead_values.items() if v not in (None, "")})
    if trigger:
        context["trigger"] = dict(trigger)
        context.update(trigger)
    return context


def template_slots(template) -> list[str]:
    """Every variable slot a template uses, in order of first appearance."""
    texts = [template.header_text, template.body, template.footer]
    if template.kind == TemplateKind.META_TEMPLATE:
        texts = []
        for component in template.meta_components or []:
            texts.append(str(component.get("text") or ""))
            for button in component.get("buttons") or []:
                texts.append(str(button.get("url") or ""))
    slots: dict[str, None] = {}
    for text in texts:
        for slot in variable_slots(text):
            slots.setdefault(slot, None)
    return list(slots)


# --- internals ----------------------------------------------------------------------------


def _resolver(variables: Mapping[str, Any] | None, context: Mapping[str, Any], *, empty: str) -> Resolver:
    variables = variables if isinstance(variables, Mapping) else {}

    def resolve(slot: str) -> str:
        config = variables.get(slot)
        config = config if isinstance(config, Mapping) else {}
        value = lookup(context, str(config.get("source") or slot))
        if value is None or (isinstance(value, str) and not value.strip()):
            return str(config.get("fallback") or empty)
        return str(value)

    return resolve


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """``context[path]``, else the dotted path through mappings and attributes; None if absent."""
    if path in context:
        return context[path]
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
        if value is None:
            return None
    return value


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    meta = getattr(obj, "_meta", None)
    if meta is not None:
        return {f.name: getattr(obj, f.attname) for f in meta.concrete_fields}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def _meta_content(template, context: Mapping[str, Any]) -> dict[str, Any]:
    resolve = _resolver(template.variables, context, empty=META_EMPTY_PARAMETER)
    named = template.meta_parameter_format == ParameterFormat.NAMED

    def parameters(text: str) -> list[dict[str, Any]]:
        slots = variable_slots(text)
        if not named:
            # Positional values go in slot order, whatever order the text uses them in.
            slots = sorted((s for s in slots if s.isdigit()), key=int)
        built = []
        for slot in slots:
            parameter: dict[str, Any] = {"type": "text", "text": resolve(slot)}
            if named:
                parameter = {"type": "text", "parameter_name": slot, "text": resolve(slot)}
            built.append(parameter)
        return built

    payloads = {button.position: button.payload_id for button in template.buttons.all()}
    components: list[dict[str, Any]] = []
    for component in template.meta_components or []:
        kind = str(component.get("type") or "").upper()
        if kind == "HEADER":
            header_format = str(component.get("format") or "TEXT").upper()
            if header_format == "TEXT":
                params = parameters(str(component.get("text") or ""))
                if params:
                    components.append({"type": "header", "parameters": params})
            elif header_format in _MEDIA_HEADER_FORMATS:
                link = lookup(context, "header_media_link") or template.header_media_link
                if link:
                    media = header_format.lower()
                    components.append({"type": "header", "parameters": [{"type": media, media: {"link": link}}]})
        elif kind == "BODY":
            params = parameters(str(component.get("text") or ""))
            if params:
                components.append({"type": "body", "parameters": params})
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                button_type = str(button.get("type") or "").upper()
                if button_type == "QUICK_REPLY" and index in payloads:
                    components.append(
                        {
                            "type": "button",
                            "sub_type": "quick_reply",
                            "index": str(index),
                            "parameters": [{"type": "payload", "payload": payloads[index]}],
                        }
                    )
                elif button_type == "URL" and VARIABLE.search(str(button.get("url") or "")):
                    slot = variable_slots(str(button["url"]))[0]
                    components.append(
                        {
                            "type": "button",
                            "sub_type": "url",
                            "index": str(index),
                            "parameters": [{"type": "text", "text": resolve(slot)}],
                        }
                    )
    content: dict[str, Any] = {"name": template.meta_name, "language": {"code": template.meta_language}}
    if components:
        content["components"] = components
    return content
