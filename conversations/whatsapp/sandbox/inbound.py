"""The customer's side of the sandbox: signed, Meta-shaped inbound webhooks.

Shapes: FACTS.md §1.4 and Meta's message webhook reference
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, NamedTuple

from . import wire
from .delivery import WebhookDeliveryError

if TYPE_CHECKING:
    from .api import GraphApi
    from .delivery import WebhookDispatcher
    from .state import SandboxState


class InjectResult(NamedTuple):
    """What an injected inbound webhook produced: its wamid and our server's answer."""

    wamid: str
    status_code: int


class InboundMixin:
    """``inject_*`` and ``verify_webhook`` for ``GraphSandbox``. Each injection is one
    synchronous signed POST to ``webhook_url`` (no retries) and raises
    ``WebhookDeliveryError`` when nothing answers."""

    # Provided by GraphSandbox, as are ``base_url`` and ``add_media``.
    state: SandboxState
    dispatcher: WebhookDispatcher
    api: GraphApi
    webhook_url: str | None
    public_url: str | None

    def verify_webhook(self, verify_token: str, challenge: str | None = None) -> bool:
        """Do Meta's subscription check (FACTS.md §1.1): ``GET webhook_url?hub.mode=
        subscribe&hub.challenge=..&hub.verify_token=..``; True when our server answered
        200 with exactly the challenge."""
        if not self.webhook_url:
            raise WebhookDeliveryError("no webhook_url configured")
        challenge = challenge or str(secrets.randbelow(10**10))
        status, body = self.dispatcher.get(
            self.webhook_url,
            params={"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token},
        )
        return status == 200 and body.decode("utf-8", "replace") == challenge

    def inject_text(
        self,
        phone_number_id: str,
        from_wa_id: str,
        text: str,
        profile_name: str = "Customer",
        wamid: str | None = None,
        *,
        context_wamid: str | None = None,
        user_id: str | None = None,
    ) -> InjectResult:
        message: dict[str, Any] = {"type": "text", "text": {"body": text}}
        return self._inject(phone_number_id, from_wa_id, message, profile_name, wamid, context_wamid, user_id)

    def inject_button_reply(
        self,
        phone_number_id: str,
        from_wa_id: str,
        payload_id: str,
        title: str,
        context_wamid: str | None = None,
        *,
        profile_name: str = "Customer",
        wamid: str | None = None,
        user_id: str | None = None,
    ) -> InjectResult:
        """A tap on an interactive reply button; ``context_wamid`` defaults to our last
        send to this customer."""
        message = {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": payload_id, "title": title}},
        }
        context = context_wamid or self._last_wamid_to(phone_number_id, from_wa_id)
        return self._inject(phone_number_id, from_wa_id, message, profile_name, wamid, context, user_id)

    def inject_list_reply(
        self,
        phone_number_id: str,
        from_wa_id: str,
        row_id: str,
        title: str,
        description: str | None = None,
        context_wamid: str | None = None,
        *,
        profile_name: str = "Customer",
        wamid: str | None = None,
        user_id: str | None = None,
    ) -> InjectResult:
        reply = {"id": row_id, "title": title}
        if description is not None:
            reply["description"] = description
        message = {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": reply}}
        context = context_wamid or self._last_wamid_to(phone_number_id, from_wa_id)
        return self._inject(phone_number_id, from_wa_id, message, profile_name, wamid, context, user_id)

    def inject_quick_reply(
        self,
        phone_number_id: str,
        from_wa_id: str,
        payload: str,
        text: str,
        context_wamid: str | None = None,
        *,
        profile_name: str = "Customer",
        wamid: str | None = None,
        user_id: str | None = None,
    ) -> InjectResult:
        """A tap on a *template* quick-reply button (``type: button``, FACTS.md §1.4)."""
        message = {"type": "button", "button": {"payload": payload, "text": text}}
        context = context_wamid or self._last_wamid_to(phone_number_id, from_wa_id)
        return self._inject(phone_number_id, from_wa_id, message, profile_name, wamid, context, user_id)

    def inject_media(
        self,
        phone_number_id: str,
        from_wa_id: str,
        media_type: str,
        media_id: str,
        mime_type: str,
        caption: str | None = None,
        filename: str | None = None,
        *,
        data: bytes | None = None,
        profile_name: str = "Customer",
        wamid: str | None = None,
        user_id: str | None = None,
    ) -> InjectResult:
        """An inbound image/document/audio/video/sticker. Pass ``data`` (or call
        ``add_media`` first) so ``GET /<media_id>`` and the download work."""
        if data is not None:
            self.add_media(media_id, data, mime_type, phone_number_id=phone_number_id, filename=filename)
        media: dict[str, Any] = {"mime_type": mime_type, "id": media_id}
        stored = self.state.media.get(media_id)
        if stored is not None:
            media["sha256"] = wire.media_sha256_b64(stored.data)
            media["url"] = self.api.media_url(self.public_url or self.base_url, media_id)
        if caption is not None:
            media["caption"] = caption
        if filename is not None and media_type == "document":
            media["filename"] = filename
        message = {"type": media_type, media_type: media}
        return self._inject(phone_number_id, from_wa_id, message, profile_name, wamid, None, user_id)

    def inject_status(
        self,
        phone_number_id: str,
        wamid: str,
        status: str,
        recipient_id: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        biz_opaque_callback_data: str | None = None,
    ) -> InjectResult:
        """Send one status webhook now (e.g. out of order, or a late ``failed``)."""
        number = self.state.number(phone_number_id)
        item = wire.status_item(
            wamid=wamid,
            status=status,
            recipient_id=recipient_id,
            errors=errors,
            biz_opaque_callback_data=biz_opaque_callback_data,
        )
        payload = wire.envelope(
            waba_id=number.waba_id,
            phone_number_id=phone_number_id,
            display_phone_number=number.display_phone_number,
            value={"statuses": [item]},
        )
        status_code = self.dispatcher.post_now(
            wire.dumps(payload), meta={"kind": "status", "wamid": wamid, "status": status}
        )
        return InjectResult(wamid, status_code)

    def inject_raw(self, payload: dict[str, Any] | bytes) -> InjectResult:
        """POST any body, signed (bytes are sent as they are); returns the first wamid."""
        body = payload if isinstance(payload, bytes) else wire.dumps(payload)
        wamid = ""
        if isinstance(payload, dict):
            for entry in payload.get("entry") or []:
                for change in entry.get("changes") or []:
                    for message in (change.get("value") or {}).get("messages") or []:
                        wamid = wamid or str(message.get("id", ""))
        status_code = self.dispatcher.post_now(body, meta={"kind": "raw", "wamid": wamid})
        return InjectResult(wamid, status_code)

    def _inject(
        self,
        phone_number_id: str,
        from_wa_id: str,
        message: dict[str, Any],
        profile_name: str,
        wamid: str | None,
        context_wamid: str | None,
        user_id: str | None,
    ) -> InjectResult:
        number = self.state.number(phone_number_id)
        wamid = wamid or wire.new_wamid(from_wa_id, inbound=True)
        contact: dict[str, Any] = {"profile": {"name": profile_name}, "wa_id": from_wa_id}
        full: dict[str, Any] = {"from": from_wa_id, "id": wamid, "timestamp": wire.timestamp()}
        if user_id:
            contact["user_id"] = user_id
            full["from_user_id"] = user_id
        if context_wamid:
            full["context"] = {"from": number.display_phone_number, "id": context_wamid}
        full.update(message)
        payload = wire.envelope(
            waba_id=number.waba_id,
            phone_number_id=phone_number_id,
            display_phone_number=number.display_phone_number,
            value={"contacts": [contact], "messages": [full]},
        )
        status_code = self.dispatcher.post_now(wire.dumps(payload), meta={"kind": "inbound", "wamid": wamid})
        return InjectResult(wamid, status_code)

    def _last_wamid_to(self, phone_number_id: str, wa_id: str) -> str | None:
        with self.state.lock:
            for record in reversed(self.state.sent):
                if record["phone_number_id"] == phone_number_id and record["wa_id"] == wire.digits(wa_id):
                    return record["wamid"]
        return None
