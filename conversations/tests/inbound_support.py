"""Helpers for the inbound webhook tests: Meta-shaped payload builders, signing, event capture."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.test import Client

from bizmitra.events import listens_to
from conversations.whatsapp.signature import compute_signature
from tests.tenancy import ALPHA

WEBHOOK_URL = "/webhooks/whatsapp/"


def unique_wa_id() -> str:
    return "1555" + str(uuid.uuid4().int)[:8]


def unique_wamid() -> str:
    return f"wamid.TEST{uuid.uuid4().hex}"


def envelope(
    *,
    phone_number_id: str = ALPHA["phone_number_id"],
    messages: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if contacts:
        value["contacts"] = contacts
    if messages:
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": ALPHA["waba_id"], "changes": [{"value": value, "field": "messages"}]}],
    }


def contact(wa_id: str, name: str = "Customer") -> dict[str, Any]:
    return {"profile": {"name": name}, "wa_id": wa_id}


def text_message(wa_id: str, body: str, *, wamid: str | None = None, timestamp: int | None = None) -> dict:
    return {
        "from": wa_id,
        "id": wamid or unique_wamid(),
        "timestamp": str(timestamp or int(time.time())),
        "type": "text",
        "text": {"body": body},
    }


def image_message(wa_id: str, media_id: str, *, timestamp: int, caption: str = "", wamid: str | None = None) -> dict:
    image = {"mime_type": "image/jpeg", "sha256": "c2hhMjU2", "id": media_id}
    if caption:
        image["caption"] = caption
    return {"from": wa_id, "id": wamid or unique_wamid(), "timestamp": str(timestamp), "type": "image", "image": image}


def status_item(wamid: str, status: str, *, timestamp: int, **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": status, "timestamp": str(timestamp), "recipient_id": "16505551234", **extra}


def as_bytes(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def post_webhook(
    payload: dict[str, Any] | bytes,
    *,
    secret: str | None = None,
    signature: str | None = None,
    content_type: str = "application/json",
    client: Client | None = None,
):
    """POST a body to the webhook as Meta would, signed with the platform secret by default."""
    body = as_bytes(payload)
    headers = {}
    if signature is None:
        signature = compute_signature(secret or settings.META_APP_SECRET, body)
    if signature:
        headers["X-Hub-Signature-256"] = signature
    return (client or Client()).post(WEBHOOK_URL, data=body, content_type=content_type, headers=headers)


class EventRecorder:
    """Records the domain events this process publishes (thread-safe; cleared per test)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, *, event_name: str, schema_name: str, **payload: Any) -> None:
        with self._lock:
            self.events.append({"event": event_name, "schema": schema_name, **payload})

    def named(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["event"] == name]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


recorder = EventRecorder()
listens_to("message.received", "message.status")(recorder)
