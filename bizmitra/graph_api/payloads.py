"""Builds and validates Graph API ``POST /<PHONE_NUMBER_ID>/messages`` bodies.

Validating against Meta's documented limits *before* a send is queued turns a delayed,
asynchronous Graph error (131008/131009/100) into an immediate ``OutboundValidationError``
that names the offending field, so the API and dashboard can show it to the user.

Limits: FACTS.md §2.2 and Meta's pages
https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages,
.../interactive-reply-buttons-messages, .../interactive-list-messages, .../image-messages.
Lengths are counted in Python characters (code points); Meta does not document how it
counts emoji, so limits may be a little more generous here than on Meta's side.

Pure Python (no Django): the sender task, the API serializers and the sandbox share it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MESSAGING_PRODUCT = "whatsapp"

TEMPLATE_TYPE = "template"
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
FREE_FORM_TYPES = frozenset({"text", "interactive", "location", "reaction"} | MEDIA_TYPES)
"""Message types Meta accepts only inside the 24 h customer-service window (else 131047)."""
OUTSIDE_WINDOW_TYPES = frozenset({TEMPLATE_TYPE})
"""Message types allowed outside the 24 h window: templates only (WA/templates/overview)."""
SUPPORTED_TYPES = FREE_FORM_TYPES | OUTSIDE_WINDOW_TYPES
"""Every ``type`` ``build_message_payload`` can build."""

TEXT_BODY_MAX = 4096
MEDIA_CAPTION_MAX = 1024
BIZ_OPAQUE_CALLBACK_DATA_MAX = 512
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
BUTTON_BODY_MAX = 1024
FOOTER_MAX = 60
HEADER_TEXT_MAX = 60
LIST_BUTTON_MAX = 20
LIST_SECTIONS_MAX = 10
LIST_ROWS_MAX = 10
LIST_SECTION_TITLE_MAX = 24
LIST_ROW_TITLE_MAX = 24
LIST_ROW_DESCRIPTION_MAX = 72
LIST_ROW_ID_MAX = 200
LIST_BODY_MAX = 4096
TEMPLATE_NAME_MAX = 512

# Captions are allowed on image, video and document only; filename on document only.
_MEDIA_OPTIONAL_KEYS = {
    "image": ("caption",),
    "video": ("caption",),
    "document": ("caption", "filename"),
    "audio": (),
    "sticker": (),
}
_BUTTON_HEADER_TYPES = frozenset({"text", "image", "video", "document"})

# E.164 allows at most 15 digits and no leading 0 in the country code. We check shape only:
# Meta is the authority on whether a number is on WhatsApp, and the phonenumbers library's
# per-country metadata would reject Meta's own 555 test numbers and lag new ranges.
_PHONE = re.compile(r"^\+?([1-9]\d{6,14})$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")
# BSUID: ISO country code, a dot, alphanumerics; parent BSUIDs add a segment ("US.ENT.123").
_BSUID = re.compile(r"^[A-Z]{2}(\.[A-Za-z0-9]+)+$")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]+$")


class OutboundValidationError(ValueError):
    """An outbound message breaks one of Meta's documented limits or shapes.

    ``field`` is the dotted path of the offending value in Meta's JSON (for example
    ``interactive.action.buttons[1].reply.title``); ``reason`` says what is wrong.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def normalize_recipient(to: str) -> tuple[str, str]:
    """Return ``("to", "+<digits>")`` for a phone number or ``("recipient", bsuid)`` for a BSUID.

    Phone numbers may carry spaces, dashes, dots or parentheses, which are dropped. The ``+``
    is always added because without it Meta prepends the *business* number's country code.
    """
    if not isinstance(to, str) or not to.strip():
        raise OutboundValidationError("to", "a recipient phone number or BSUID is required")
    candidate = to.strip()
    if _BSUID.match(candidate):
        return "recipient", candidate
    match = _PHONE.match(_PHONE_PUNCTUATION.sub("", candidate))
    if not match:
        raise OutboundValidationError(
            "to", "must be an international number (country code + number, 7-15 digits) or a BSUID"
        )
    return "to", "+" + match.group(1)


def build_message_payload(
    *,
    to: str,
    type: str,  # noqa: A002 - mirrors Meta's field name
    content: Mapping[str, Any] | str,
    biz_opaque_callback_data: str = "",
    context_wamid: str = "",
) -> dict[str, Any]:
    """Build the JSON body for sending one message, raising ``OutboundValidationError`` early.

    ``content`` is Meta's object for ``type`` (what goes under ``"<type>": {...}``); a plain
    string is accepted for ``text``. ``biz_opaque_callback_data`` is echoed back in status
    webhooks; ``context_wamid`` quotes the message being replied to. The input is never
    mutated: the result is a fresh dict in exactly Meta's shape.
    """
    if type not in SUPPORTED_TYPES:
        raise OutboundValidationError("type", f"unsupported message type {type!r}")
    recipient_key, recipient = normalize_recipient(to)

    if type == "text":
        body = _text(content)
    elif type == "interactive":
        body = _interactive(_mapping(content, "interactive"))
    elif type == TEMPLATE_TYPE:
        body = _template(_mapping(content, "template"))
    elif type in MEDIA_TYPES:
        body = _media(_mapping(content, type), type, type)
    elif type == "location":
        body = _location(_mapping(content, "location"))
    else:
        body = _reaction(_mapping(content, "reaction"))

    payload: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "recipient_type": "individual",
        recipient_key: recipient,
        "type": type,
        type: body,
    }
    if context_wamid:
        if type == "reaction":
            raise OutboundValidationError("context", "a reaction already names its message_id")
        payload["context"] = {"message_id": _required_str(context_wamid, "context.message_id")}
    if biz_opaque_callback_data:
        payload["biz_opaque_callback_data"] = _bounded(
            biz_opaque_callback_data, "biz_opaque_callback_data", BIZ_OPAQUE_CALLBACK_DATA_MAX
        )
    return payload


def build_mark_read_payload(wamid: str, typing_indicator: bool = False) -> dict[str, Any]:
    """Body that marks inbound message ``wamid`` (and every earlier one) as read.

    With ``typing_indicator`` the user also sees "typing..." until we reply or ~25 s pass.
    Meta answers 131009 for ids older than 30 days.
    """
    payload: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "status": "read",
        "message_id": _required_str(wamid, "message_id"),
    }
    if typing_indicator:
        payload["typing_indicator"] = {"type": "text"}
    return payload


def is_allowed_outside_window(message_type: str) -> bool:
    """Tell whether ``message_type`` may be sent when the 24 h service window is closed."""
    return message_type in OUTSIDE_WINDOW_TYPES


# --- per-type builders ------------------------------------------------------------------


def _text(content: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(content, str):
        content = {"body": content}
    content = _mapping(content, "text")
    _only_keys(content, "text", {"body", "preview_url"})
    result: dict[str, Any] = {"body": _bounded(content.get("body"), "text.body", TEXT_BODY_MAX)}
    if "preview_url" in content:
        result["preview_url"] = _bool(content["preview_url"], "text.preview_url")
    return result


def _interactive(content: Mapping[str, Any]) -> dict[str, Any]:
    kind = content.get("type")
    if kind == "button":
        return _interactive_buttons(content)
    if kind == "list":
        return _interactive_list(content)
    raise OutboundValidationError("interactive.type", "must be 'button' or 'list'")


def _interactive_buttons(content: Mapping[str, Any]) -> dict[str, Any]:
    _only_keys(content, "interactive", {"type", "header", "body", "footer", "action"})
    result: dict[str, Any] = {"type": "button"}
    if content.get("header") is not None:
        result["header"] = _header(content["header"], _BUTTON_HEADER_TYPES)
    result["body"] = {"text": _body_text(content, BUTTON_BODY_MAX)}
    if content.get("footer") is not None:
        result["footer"] = _footer(content["footer"])

    action = _mapping(content.get("action"), "interactive.action")
    _only_keys(action, "interactive.action", {"buttons"})
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        raise OutboundValidationError("interactive.action.buttons", "at least one button is required")
    if len(buttons) > BUTTONS_MAX:
        raise OutboundValidationError(
            "interactive.action.buttons", f"at most {BUTTONS_MAX} buttons, got {len(buttons)}"
        )
    built, titles, ids = [], set(), set()
    for index, button in enumerate(buttons):
        path = f"interactive.action.buttons[{index}]"
        button = _mapping(button, path)
        _only_keys(button, path, {"type", "reply"})
        if button.get("type") != "reply":
            raise OutboundValidationError(f"{path}.type", "must be 'reply'")
        reply = _mapping(button.get("reply"), f"{path}.reply")
        _only_keys(reply, f"{path}.reply", {"id", "title"})
        button_id = _bounded(reply.get("id"), f"{path}.reply.id", BUTTON_ID_MAX)
        title = _bounded(reply.get("title"), f"{path}.reply.title", BUTTON_TITLE_MAX)
        # Meta requires unique titles; unique ids keep the user's tap unambiguous for us.
        if title in titles:
            raise OutboundValidationError(f"{path}.reply.title", "button titles must be unique")
        if button_id in ids:
            raise OutboundValidationError(f"{path}.reply.id", "button ids must be unique")
        titles.add(title)
        ids.add(button_id)
        built.append({"type": "reply", "reply": {"id": button_id, "title": title}})
    result["action"] = {"buttons": built}
    return result


def _interactive_list(content: Mapping[str, Any]) -> dict[str, Any]:
    _only_keys(content, "interactive", {"type", "header", "body", "footer", "action"})
    result: dict[str, Any] = {"type": "list"}
    if content.get("header") is not None:
        # List messages accept a text header only.
        result["header"] = _header(content["header"], frozenset({"text"}))
    result["body"] = {"text": _body_text(content, LIST_BODY_MAX)}
    if content.get("footer") is not None:
        result["footer"] = _footer(content["footer"])

    action = _mapping(content.get("action"), "interactive.action")
    _only_keys(action, "interactive.action", {"button", "sections"})
    label = _bounded(action.get("button"), "interactive.action.button", LIST_BUTTON_MAX)
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        raise OutboundValidationError("interactive.action.sections", "at least one section is required")
    if len(sections) > LIST_SECTIONS_MAX:
        raise OutboundValidationError(
            "interactive.action.sections", f"at most {LIST_SECTIONS_MAX} sections, got {len(sections)}"
        )

    built_sections, row_ids, total_rows = [], set(), 0
    for s_index, section in enumerate(sections):
        s_path = f"interactive.action.sections[{s_index}]"
        section = _mapping(section, s_path)
        _only_keys(section, s_path, {"title", "rows"})
        built_section: dict[str, Any] = {}
        if section.get("title") is not None or len(sections) > 1:
            # Meta requires a section title as soon as there is more than one section.
            built_section["title"] = _bounded(section.get("title"), f"{s_path}.title", LIST_SECTION_TITLE_MAX)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise OutboundValidationError(f"{s_path}.rows", "at least one row is required")
        total_rows += len(rows)
        if total_rows > LIST_ROWS_MAX:
            raise OutboundValidationError(
                "interactive.action.sections", f"at most {LIST_ROWS_MAX} rows in total across sections"
            )
        built_rows = []
        for r_index, row in enumerate(rows):
            r_path = f"{s_path}.rows[{r_index}]"
            row = _mapping(row, r_path)
            _only_keys(row, r_path, {"id", "title", "description"})
            row_id = _bounded(row.get("id"), f"{r_path}.id", LIST_ROW_ID_MAX)
            if row_id in row_ids:
                raise OutboundValidationError(f"{r_path}.id", "row ids must be unique across sections")
            row_ids.add(row_id)
            built_row = {"id": row_id, "title": _bounded(row.get("title"), f"{r_path}.title", LIST_ROW_TITLE_MAX)}
            if row.get("description") is not None:
                built_row["description"] = _bounded(
                    row["description"], f"{r_path}.description", LIST_ROW_DESCRIPTION_MAX
                )
            built_rows.append(built_row)
        built_section["rows"] = built_rows
        built_sections.append(built_section)
    result["action"] = {"button": label, "sections": built_sections}
    return result


def _header(header: Any, allowed_types: frozenset[str]) -> dict[str, Any]:
    header = _mapping(header, "interactive.header")
    kind = header.get("type")
    if kind not in allowed_types:
        raise OutboundValidationError("interactive.header.type", f"must be one of {sorted(allowed_types)}")
    if kind == "text":
        _only_keys(header, "interactive.header", {"type", "text"})
        return {"type": "text", "text": _bounded(header.get("text"), "interactive.header.text", HEADER_TEXT_MAX)}
    _only_keys(header, "interactive.header", {"type", kind})
    media = _media(_mapping(header.get(kind), f"interactive.header.{kind}"), kind, f"interactive.header.{kind}")
    if "caption" in media:
        raise OutboundValidationError(f"interactive.header.{kind}.caption", "a header has no caption")
    return {"type": kind, kind: media}


def _body_text(content: Mapping[str, Any], limit: int) -> str:
    body = _mapping(content.get("body"), "interactive.body")
    _only_keys(body, "interactive.body", {"text"})
    return _bounded(body.get("text"), "interactive.body.text", limit)


def _footer(footer: Any) -> dict[str, str]:
    footer = _mapping(footer, "interactive.footer")
    _only_keys(footer, "interactive.footer", {"text"})
    return {"text": _bounded(footer.get("text"), "interactive.footer.text", FOOTER_MAX)}


def _template(content: Mapping[str, Any]) -> dict[str, Any]:
    _only_keys(content, "template", {"name", "language", "components"})
    name = _bounded(content.get("name"), "template.name", TEMPLATE_NAME_MAX)
    if not _TEMPLATE_NAME.match(name):
        raise OutboundValidationError("template.name", "only lowercase letters, digits and underscores")

    language = content.get("language")
    if isinstance(language, str):
        language = {"code": language}
    language = _mapping(language, "template.language")
    _only_keys(language, "template.language", {"code", "policy"})
    built_language = {"code": _required_str(language.get("code"), "template.language.code")}
    if "policy" in language:
        if language["policy"] != "deterministic":
            raise OutboundValidationError("template.language.policy", "must be 'deterministic'")
        built_language = {"policy": "deterministic", **built_language}

    result: dict[str, Any] = {"name": name, "language": built_language}
    components = content.get("components")
    if components is None:
        return result
    if not isinstance(components, list):
        raise OutboundValidationError("template.components", "must be a list")
    built = []
    for index, component in enumerate(components):
        path = f"template.components[{index}]"
        component = _mapping(component, path)
        _required_str(component.get("type"), f"{path}.type")
        if component["type"] == "button":
            # Quick-reply and URL buttons are addressed by sub_type and position.
            _required_str(component.get("sub_type"), f"{path}.sub_type")
            if not str(component.get("index", "")).isdigit():
                raise OutboundValidationError(f"{path}.index", "must be the button's position, e.g. '0'")
        parameters = component.get("parameters")
        if parameters is not None:
            if not isinstance(parameters, list):
                raise OutboundValidationError(f"{path}.parameters", "must be a list")
            for p_index, parameter in enumerate(parameters):
                p_path = f"{path}.parameters[{p_index}]"
                _required_str(_mapping(parameter, p_path).get("type"), f"{p_path}.type")
        # Parameter objects (text, currency, date_time, media, payload, ...) are many and
        # still growing; Meta checks their details (132000/132012), we check the frame.
        built.append(_deep_copy(component))
    result["components"] = built
    return result


def _media(content: Mapping[str, Any], kind: str, path: str) -> dict[str, Any]:
    optional = _MEDIA_OPTIONAL_KEYS[kind]
    _only_keys(content, path, {"id", "link", *optional})
    has_id, has_link = bool(content.get("id")), bool(content.get("link"))
    if has_id == has_link:
        raise OutboundValidationError(path, "exactly one of 'id' or 'link' is required")
    result: dict[str, Any]
    if has_id:
        result = {"id": _required_str(content["id"], f"{path}.id")}
    else:
        link = _required_str(content["link"], f"{path}.link")
        if not link.startswith(("https://", "http://")):
            raise OutboundValidationError(f"{path}.link", "must be an http(s) URL")
        result = {"link": link}
    if content.get("caption") is not None:
        result["caption"] = _bounded(content["caption"], f"{path}.caption", MEDIA_CAPTION_MAX)
    if content.get("filename") is not None:
        result["filename"] = _required_str(content["filename"], f"{path}.filename")
    return result


def _location(content: Mapping[str, Any]) -> dict[str, Any]:
    _only_keys(content, "location", {"latitude", "longitude", "name", "address"})
    result: dict[str, Any] = {
        "latitude": _coordinate(content.get("latitude"), "location.latitude", 90),
        "longitude": _coordinate(content.get("longitude"), "location.longitude", 180),
    }
    for key in ("name", "address"):
        if content.get(key) is not None:
            result[key] = _required_str(content[key], f"location.{key}")
    return result


def _reaction(content: Mapping[str, Any]) -> dict[str, Any]:
    _only_keys(content, "reaction", {"message_id", "emoji"})
    emoji = content.get("emoji", "")
    # An empty emoji is Meta's way to remove a reaction we made earlier.
    if not isinstance(emoji, str):
        raise OutboundValidationError("reaction.emoji", "must be a string ('' removes the reaction)")
    return {"message_id": _required_str(content.get("message_id"), "reaction.message_id"), "emoji": emoji}


# --- small validators -------------------------------------------------------------------


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise OutboundValidationError(path, "must be an object")
    return value


def _only_keys(value: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    # Unknown keys are rejected rather than dropped: a typo ("captions") would otherwise be
    # sent silently without the content the author meant.
    for key in value:
        if key not in allowed:
            raise OutboundValidationError(f"{path}.{key}", "unknown field")


def _required_str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OutboundValidationError(path, "a non-empty string is required")
    return value


def _bounded(value: Any, path: str, limit: int) -> str:
    text = _required_str(value, path)
    if len(text) > limit:
        raise OutboundValidationError(path, f"at most {limit} characters, got {len(text)}")
    return text


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise OutboundValidationError(path, "must be true or false")
    return value


def _coordinate(value: Any, path: str, bound: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise OutboundValidationError(path, "a number is required")
    try:
        number = float(value)
    except ValueError:
        raise OutboundValidationError(path, "a number is required") from None
    if not -bound <= number <= bound:
        raise OutboundValidationError(path, f"must be between -{bound} and {bound}")
    return number


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
