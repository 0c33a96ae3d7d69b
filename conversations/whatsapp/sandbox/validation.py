"""Request checks the sandbox applies to ``POST /<PHONE_NUMBER_ID>/messages``.

Deliberately independent of ``bizmitra.graph_api.payloads``: the sandbox
stands in for Meta, so sharing our own validator would make tests agree with themselves.
Limits are Meta's (FACTS.md §2.2); error codes follow Meta's table (FACTS.md §3): 100 for
a wrong or unknown parameter, 131008 for a missing one, 131009 for a bad value.
"""

from __future__ import annotations

from typing import Any

MESSAGE_TYPES = frozenset(
    {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "interactive",
        "template",
        "location",
        "contacts",
        "reaction",
    }
)
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
INTERACTIVE_TYPES = frozenset(
    {"button", "list", "cta_url", "product", "product_list", "flow", "location_request_message"}
)


class GraphFault(Exception):
    """An error answer the sandbox gives in Meta's error shape."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        http_status: int = 400,
        title: str | None = None,
        message: str | None = None,
        error_type: str = "OAuthException",
        error_subcode: int | None = None,
        whatsapp: bool = True,
    ) -> None:
        super().__init__(f"({code}) {details or title or ''}")
        self.code = code
        self.details = details
        self.http_status = http_status
        self.title = title
        self.message = message
        self.error_type = error_type
        self.error_subcode = error_subcode
        self.whatsapp = whatsapp


def check_send(payload: Any) -> str:
    """Validate a send body; return ``"read"`` for mark-as-read or the message type."""
    if not isinstance(payload, dict):
        raise GraphFault(100, "The request body must be a JSON object.")
    product = payload.get("messaging_product")
    if product is None:
        raise GraphFault(100, "The parameter messaging_product is required.")
    if product != "whatsapp":
        raise GraphFault(100, f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".')
    if payload.get("status") is not None:
        if payload.get("status") != "read":
            raise GraphFault(100, f'Param status must be one of {{READ}} - got "{payload["status"]}".')
        if not isinstance(payload.get("message_id"), str) or not payload["message_id"]:
            raise GraphFault(100, "The parameter message_id is required.")
        return "read"
    to = payload.get("to")
    if not isinstance(to, str) or not to.strip():
        raise GraphFault(100, "The parameter to is required.")
    message_type = payload.get("type", "text")  # Meta defaults type to text
    if message_type not in MESSAGE_TYPES:
        raise GraphFault(100, f"Param type must be one of {{{', '.join(sorted(MESSAGE_TYPES))}}}.")
    body = payload.get(message_type)
    if not isinstance(body, dict):
        raise GraphFault(131008, f"The parameter {message_type} is required.")
    if message_type == "text":
        _check_text(body)
    elif message_type in MEDIA_TYPES:
        if not body.get("id") and not body.get("link"):
            raise GraphFault(131008, f"Either {message_type}['id'] or {message_type}['link'] is required.")
    elif message_type == "interactive":
        _check_interactive(body)
    elif message_type == "template":
        _check_template(body)
    opaque = payload.get("biz_opaque_callback_data")
    if opaque is not None and (not isinstance(opaque, str) or len(opaque) > 512):
        raise GraphFault(100, "Param biz_opaque_callback_data must be a string of at most 512 characters.")
    return message_type


def _check_text(text: dict[str, Any]) -> None:
    body = text.get("body")
    if not isinstance(body, str) or not body:
        raise GraphFault(131008, "The parameter text['body'] is required.")
    if len(body) > 4096:
        raise GraphFault(100, "Param text['body'] must be at most 4096 characters long.")


def _check_interactive(interactive: dict[str, Any]) -> None:
    kind = interactive.get("type")
    if kind not in INTERACTIVE_TYPES:
        raise GraphFault(100, f"Param interactive['type'] must be one of {sorted(INTERACTIVE_TYPES)}.")
    if kind not in ("button", "list"):
        return
    body = interactive.get("body")
    if not isinstance(body, dict) or not body.get("text"):
        raise GraphFault(131008, "The parameter interactive['body']['text'] is required.")
    limit = 1024 if kind == "button" else 4096
    if len(str(body["text"])) > limit:
        raise GraphFault(131009, f"interactive['body']['text'] must be at most {limit} characters.")
    footer = interactive.get("footer")
    if isinstance(footer, dict) and len(str(footer.get("text", ""))) > 60:
        raise GraphFault(131009, "interactive['footer']['text'] must be at most 60 characters.")
    action = interactive.get("action")
    if not isinstance(action, dict):
        raise GraphFault(131008, "The parameter interactive['action'] is required.")
    if kind == "button":
        _check_buttons(action)
    else:
        _check_list(action)


def _check_buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise GraphFault(131009, "Buttons count must be between 1 and 3.")
    titles = []
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(reply, dict) or not reply.get("id") or not reply.get("title"):
            raise GraphFault(131008, "Each button requires reply['id'] and reply['title'].")
        if len(str(reply["title"])) > 20:
            raise GraphFault(131009, "Button title length invalid. Min length: 1, Max length: 20.")
        if len(str(reply["id"])) > 256:
            raise GraphFault(131009, "Button id length invalid. Min length: 1, Max length: 256.")
        titles.append(reply["title"])
    if len(set(titles)) != len(titles):
        raise GraphFault(131009, "Button titles must be unique.")


def _check_list(action: dict[str, Any]) -> None:
    label = action.get("button")
    if not isinstance(label, str) or not label or len(label) > 20:
        raise GraphFault(131009, "action['button'] is required, at most 20 characters.")
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise GraphFault(131009, "Sections count must be between 1 and 10.")
    rows_total = 0
    for section in sections:
        if not isinstance(section, dict):
            raise GraphFault(131009, "Each section must be an object.")
        if len(sections) > 1 and not section.get("title"):
            raise GraphFault(131008, "A section title is required when there are several sections.")
        if len(str(section.get("title", ""))) > 24:
            raise GraphFault(131009, "Section title must be at most 24 characters.")
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise GraphFault(131008, "Each section requires rows.")
        for row in rows:
            if not isinstance(row, dict) or not row.get("id") or not row.get("title"):
                raise GraphFault(131008, "Each row requires id and title.")
            if len(str(row["title"])) > 24 or len(str(row.get("description", ""))) > 72:
                raise GraphFault(131009, "Row title max 24 and description max 72 characters.")
            if len(str(row["id"])) > 200:
                raise GraphFault(131009, "Row id must be at most 200 characters.")
        rows_total += len(rows)
    if rows_total > 10:
        raise GraphFault(131009, "Total row count exceeded. Max rows: 10.")


def _check_template(template: dict[str, Any]) -> None:
    if not template.get("name"):
        raise GraphFault(131008, "The parameter template['name'] is required.")
    language = template.get("language")
    if not isinstance(language, dict) or not language.get("code"):
        raise GraphFault(131008, "The parameter template['language']['code'] is required.")
