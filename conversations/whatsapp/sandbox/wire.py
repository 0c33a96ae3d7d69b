"""Meta's wire format as the Cloud API produces it: ids, error bodies, webhook envelopes.

Shapes follow FACTS.md §1.4 (webhooks), §2.3-2.4 (send answers and errors) and Meta's
status reference
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from typing import Any

DEFAULT_WABA_ID = "102290129340398"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550783881"
ERROR_CODES_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# code -> (title, details); titles are Meta's wording (WA/support/error-codes).
KNOWN_ERRORS: dict[int, tuple[str, str]] = {
    0: ("AuthException", "We were unable to authenticate the app user."),
    1: ("API Unknown", "Invalid request or possible server error."),
    2: ("API Service", "Temporary due to downtime or due to being overloaded."),
    4: ("Application request limit reached", "The app has reached its API call rate limit."),
    100: ("Invalid parameter", "The request included one or more unsupported or misspelled parameters."),
    190: ("Access token has expired", "Your access token has expired."),
    368: ("Temporarily blocked for policies violations", "The WhatsApp Business Account is restricted."),
    80007: ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131000: ("Something went wrong", "Something went wrong"),
    131005: ("Access denied", "Permission is either not granted or has been removed."),
    131008: ("Required parameter is missing", "The request is missing a required parameter."),
    131009: ("Parameter value is not valid", "One or more parameter values are invalid."),
    131016: ("Service unavailable", "A service is temporarily unavailable."),
    131021: ("Recipient cannot be sender", "Sender and recipient phone number is the same."),
    131026: ("Message undeliverable", "Unable to deliver message."),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    131048: (
        "Spam rate limit hit",
        "Message failed to send because there are restrictions on how many messages can be "
        "sent from this phone number.",
    ),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131051: ("Unsupported message type", "Message type is not currently supported."),
    131053: ("Media upload error", "Unable to upload the media used in the message."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone "
        "number in a short period of time.",
    ),
    131057: ("Account in maintenance mode", "Business Account is in maintenance mode."),
    132000: (
        "Number of parameters does not match the expected number of params",
        "The number of variable parameter values does not match the template.",
    ),
    132001: (
        "Template name does not exist in the translation",
        "The template does not exist in the specified language or has not been approved.",
    ),
}

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def _next() -> int:
    with _counter_lock:
        return next(_counter)


def dumps(obj: Any) -> bytes:
    """Serialise like Meta: compact, non-ASCII as ``\\uXXXX`` and ``/`` as ``\\/``.

    The escaping matters: receivers must verify signatures over the raw bytes (FACTS.md
    §1.2), and a body that survives ``json.loads``/``dumps`` unchanged would hide a
    receiver that re-serialises before verifying.
    """
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    # "/" can only occur inside JSON strings, so this is a pure escape.
    return text.replace("/", "\\/").encode("ascii")


def signature_headers(app_secret: str, body: bytes) -> dict[str, str]:
    """The signature headers Meta sends on every webhook POST (FACTS.md §1.2)."""
    key = app_secret.encode("utf-8")
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def new_wamid(wa_id: str, *, inbound: bool = False) -> str:
    """A unique wamid shaped like Meta's: base64 of a record that embeds the user's number.

    Meta's sample ``wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTND...`` decodes to 0x1c 0x18,
    the length and digits of the number, a direction marker and an 18 (outbound) or 20
    (inbound) character hex id. A process-wide counter in the id makes it unique.
    """
    number = digits(wa_id).encode("ascii")[:255]
    unique = f"{_next():08X}" + secrets.token_hex(6 if inbound else 5).upper()
    marker = b"\x15\x02\x00\x12\x18\x14" if inbound else b"\x15\x02\x00\x11\x18\x12"
    raw = b"\x1c\x18" + bytes([len(number)]) + number + marker + unique.encode() + b"\x00"
    return "wamid." + base64.b64encode(raw).decode("ascii")


def new_object_id() -> str:
    """A 16-digit Graph object id (media, templates)."""
    return str(1_000_000_000_000_000 + _next() * 7919 + secrets.randbelow(7919))


def fbtrace_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")[:23]


def timestamp(at: float | None = None) -> str:
    """Unix seconds as a string, as in every webhook (FACTS.md §7)."""
    return str(int(time.time() if at is None else at))


def error_body(
    code: int,
    *,
    title: str | None = None,
    details: str | None = None,
    message: str | None = None,
    error_type: str = "OAuthException",
    error_subcode: int | None = None,
    is_transient: bool | None = None,
    whatsapp: bool = True,
) -> dict[str, Any]:
    """``{"error": {...}}`` as in FACTS.md §2.4; ``message`` defaults to "(#code) title"."""
    known_title, known_details = KNOWN_ERRORS.get(code, ("Unknown error", ""))
    title = title or known_title
    error: dict[str, Any] = {
        "message": message or f"(#{code}) {title}",
        "type": error_type,
        "code": code,
    }
    if whatsapp:
        error["error_data"] = {
            "messaging_product": "whatsapp",
            "details": details if details is not None else known_details,
        }
    if error_subcode is not None:
        error["error_subcode"] = error_subcode
    if is_transient is not None:
        error["is_transient"] = is_transient
    error["fbtrace_id"] = fbtrace_id()
    return {"error": error}


def status_error(code: int, *, title: str | None = None, details: str | None = None) -> dict:
    """One ``errors[]`` item of a ``failed`` status webhook."""
    known_title, known_details = KNOWN_ERRORS.get(code, ("Unknown error", ""))
    title = title or known_title
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details if details is not None else known_details},
        "href": ERROR_CODES_HREF,
    }


def envelope(*, waba_id: str, phone_number_id: str, display_phone_number: str, value: dict[str, Any]) -> dict[str, Any]:
    """The ``whatsapp_business_account`` envelope around one ``messages`` change."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display_phone_number,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def status_item(
    *,
    wamid: str,
    status: str,
    recipient_id: str,
    at: float | None = None,
    pricing: dict[str, Any] | None = None,
    conversation: dict[str, Any] | None = None,
    biz_opaque_callback_data: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": timestamp(at),
        "recipient_id": recipient_id,
    }
    if conversation is not None:
        item["conversation"] = conversation
    if pricing is not None:
        item["pricing"] = pricing
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if errors:
        item["errors"] = errors
    return item


def pricing_for(payload: dict[str, Any], template_category: str | None) -> dict[str, Any]:
    """Per-message pricing (PMP, FACTS.md §1.4): templates are billed, replies are free."""
    if payload.get("type") == "template":
        return {
            "billable": True,
            "pricing_model": "PMP",
            "category": (template_category or "utility").lower(),
            "type": "regular",
        }
    return {
        "billable": False,
        "pricing_model": "PMP",
        "category": "service",
        "type": "free_customer_service",
    }


def conversation_for(phone_number_id: str, wa_id: str, category: str, *, with_expiry: bool) -> dict[str, Any]:
    """Conversation object Meta still sends to Graph versions below v24.0."""
    conversation_id = hashlib.sha256(f"{phone_number_id}:{wa_id}:{category}".encode()).hexdigest()[:32]
    conversation: dict[str, Any] = {"id": conversation_id, "origin": {"type": category}}
    if with_expiry:
        conversation["expiration_timestamp"] = timestamp(time.time() + 24 * 3600)
    return conversation


def media_sha256_b64(data: bytes) -> str:
    """Inbound webhooks carry the media hash base64-encoded (FACTS.md §1.4)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
