"""The ``/_sandbox/`` control API, for processes that do not hold the ``GraphSandbox``
object (benchmarks, the dev server, shell scripts). JSON in, JSON out, no auth.

    GET  /_sandbox/health                      {"ok": true, "sent": N, ...}
    GET  /_sandbox/messages?since=N            {"messages": [...], "next": M}
    GET  /_sandbox/reads?since=N               mark-as-read calls
    GET  /_sandbox/webhooks?since=N            webhook delivery attempts
    POST /_sandbox/fail     {code, count, http_status, title, details, plain, asynchronous, to}
    POST /_sandbox/delay    {seconds, count, to}
    POST /_sandbox/drop     {count, after_processing, to}
    POST /_sandbox/inject   {kind: text|button_reply|list_reply|quick_reply|media|status|raw,
                             phone_number_id, from, ...}        -> {"wamid", "status"}
    POST /_sandbox/numbers  {phone_number_id, token, waba_id, display_phone_number,
                             quality_rating?, status?}
    POST /_sandbox/templates {waba_id, name, language, category, components, status}
    POST /_sandbox/media    {data_base64, mime_type, media_id, phone_number_id, filename}
    POST /_sandbox/config   {webhook_url, app_secret, status_delay, auto_statuses}
    POST /_sandbox/wait     {timeout}                          -> {"idle": bool}
    POST /_sandbox/verify   {verify_token, challenge}          -> {"verified": bool}
    POST /_sandbox/reset
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .api import Reply, Request
from .delivery import WebhookDeliveryError

if TYPE_CHECKING:
    from .server import GraphSandbox, InjectResult


def _ok(obj: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(obj, default=str).encode())


def handle_control(sandbox: GraphSandbox, request: Request) -> Reply:
    action = request.path.removeprefix("/_sandbox/").strip("/")
    try:
        if request.method == "GET":
            return _get(sandbox, request, action)
        if request.method != "POST":
            return _ok({"error": "method not allowed"}, 405)
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        handler = _POST.get(action)
        if handler is None:
            return _ok({"error": f"unknown control action {action!r}"}, 404)
        return _ok(handler(sandbox, data))
    except (KeyError, TypeError, ValueError) as exc:
        return _ok({"error": f"bad request: {exc!r}"}, 400)
    except WebhookDeliveryError as exc:
        return _ok({"error": f"webhook delivery failed: {exc}"}, 502)


def _get(sandbox: GraphSandbox, request: Request, action: str) -> Reply:
    since = int(request.param("since") or "0")
    if action == "health":
        return _ok(
            {
                "ok": True,
                "base_url": sandbox.base_url,
                "webhook_url": sandbox.webhook_url,
                "sent": len(sandbox.sent_messages),
                "pending_webhooks": sandbox.dispatcher.pending,
            }
        )
    sources: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "messages": lambda: sandbox.sent_messages,
        "reads": lambda: sandbox.read_receipts,
        "webhooks": lambda: sandbox.webhook_deliveries,
    }
    if action not in sources:
        return _ok({"error": f"unknown control action {action!r}"}, 404)
    items = sources[action]()
    return _ok({action: items[since:], "next": len(items)})


def _fail(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    sandbox.fail_next(
        code=int(data.get("code", 130429)),
        count=int(data.get("count", 1)),
        http_status=data.get("http_status"),
        title=data.get("title"),
        details=data.get("details"),
        plain=data.get("plain"),
        asynchronous=bool(data.get("asynchronous", False)),
        to=data.get("to"),
    )
    return {"ok": True}


def _delay(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    sandbox.delay_next(float(data["seconds"]), int(data.get("count", 1)), to=data.get("to"))
    return {"ok": True}


def _drop(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    sandbox.drop_connection_next(
        int(data.get("count", 1)), after_processing=bool(data.get("after_processing", False)), to=data.get("to")
    )
    return {"ok": True}


def _reset(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    sandbox.reset()
    return {"ok": True}


def _numbers(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    sandbox.register_number(
        str(data["phone_number_id"]),
        str(data["token"]),
        data.get("waba_id"),
        data.get("display_phone_number"),
        data.get("quality_rating"),
        data.get("status"),
    )
    return {"ok": True}


def _templates(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    keys = ("language", "category", "components", "status", "template_id")
    return sandbox.add_message_template(
        str(data["waba_id"]), str(data["name"]), **{k: data[k] for k in keys if k in data}
    )


def _media(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    media_id = sandbox.add_media(
        data.get("media_id"),
        base64.b64decode(data["data_base64"]),
        str(data["mime_type"]),
        phone_number_id=data.get("phone_number_id"),
        filename=data.get("filename"),
    )
    return {"id": media_id}


def _config(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    for key in ("webhook_url", "app_secret", "status_delay"):
        if key in data:
            setattr(sandbox, key, data[key])
    if "auto_statuses" in data:
        sandbox.auto_statuses = tuple(data["auto_statuses"])
    return {"ok": True}


def _wait(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    return {"idle": sandbox.wait_idle(min(float(data.get("timeout", 5.0)), 60.0))}


def _verify(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    return {"verified": sandbox.verify_webhook(str(data["verify_token"]), data.get("challenge"))}


def _inject(sandbox: GraphSandbox, data: dict[str, Any]) -> dict[str, Any]:
    kind = data.get("kind", "text")
    common = {k: data[k] for k in ("profile_name", "wamid", "user_id") if data.get(k) is not None}
    pnid = str(data.get("phone_number_id", ""))
    sender = str(data.get("from", ""))
    result: InjectResult
    if kind == "text":
        result = sandbox.inject_text(pnid, sender, str(data["text"]), context_wamid=data.get("context_wamid"), **common)
    elif kind == "button_reply":
        result = sandbox.inject_button_reply(
            pnid, sender, str(data["payload_id"]), str(data["title"]), data.get("context_wamid"), **common
        )
    elif kind == "list_reply":
        result = sandbox.inject_list_reply(
            pnid,
            sender,
            str(data.get("row_id") or data["payload_id"]),
            str(data["title"]),
            data.get("description"),
            data.get("context_wamid"),
            **common,
        )
    elif kind == "quick_reply":
        result = sandbox.inject_quick_reply(
            pnid,
            sender,
            str(data["payload"]),
            str(data.get("text") or data["payload"]),
            data.get("context_wamid"),
            **common,
        )
    elif kind == "media":
        raw = data.get("data_base64")
        result = sandbox.inject_media(
            pnid,
            sender,
            str(data["media_type"]),
            str(data["media_id"]),
            str(data["mime_type"]),
            data.get("caption"),
            data.get("filename"),
            data=base64.b64decode(raw) if raw else None,
            **common,
        )
    elif kind == "status":
        result = sandbox.inject_status(
            pnid,
            str(data["wamid"]),
            str(data["status"]),
            str(data.get("recipient_id") or sender),
            errors=data.get("errors"),
            biz_opaque_callback_data=data.get("biz_opaque_callback_data"),
        )
    elif kind == "raw":
        result = sandbox.inject_raw(data["payload"])
    else:
        raise ValueError(f"unknown inject kind {kind!r}")
    return {"wamid": result.wamid, "status": result.status_code}


_POST: dict[str, Callable[[GraphSandbox, dict[str, Any]], dict[str, Any]]] = {
    "fail": _fail,
    "delay": _delay,
    "drop": _drop,
    "reset": _reset,
    "numbers": _numbers,
    "templates": _templates,
    "media": _media,
    "config": _config,
    "inject": _inject,
    "wait": _wait,
    "verify": _verify,
}
