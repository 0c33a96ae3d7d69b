"""The Graph API endpoints the sandbox serves, in Meta's wire format (FACTS.md §2, §6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import wire
from .state import FailureRule
from .validation import GraphFault, check_send

if TYPE_CHECKING:
    from .server import GraphSandbox

_VERSION = r"(v\d+\.\d+)"
_NODE = r"([^/]+)"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    origin: str
    """``http://host:port`` as the client addressed us (for URLs we hand out)."""

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def token(self) -> str:
        # Graph accepts the token as a Bearer header or an access_token query parameter.
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return self.param("access_token") or ""


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=UTF-8"
    delay: float = 0.0
    drop: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, obj: Any) -> Reply:
    return Reply(status, wire.dumps(obj))


def fault_reply(fault: GraphFault) -> Reply:
    body = wire.error_body(
        fault.code,
        title=fault.title,
        details=fault.details,
        message=fault.message,
        error_type=fault.error_type,
        error_subcode=fault.error_subcode,
        whatsapp=fault.whatsapp,
    )
    return json_reply(fault.http_status, body)


def _invalid_token() -> GraphFault:
    return GraphFault(
        190,
        http_status=401,
        message="Invalid OAuth access token - Cannot parse access token",
        whatsapp=False,
    )


def _no_such_object(method: str, node: str) -> GraphFault:
    return GraphFault(
        100,
        message=(
            f"Unsupported {method.lower()} request. Object with ID '{node}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation. "
            "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        ),
        error_type="GraphMethodException",
        error_subcode=33,
        whatsapp=False,
    )


class GraphApi:
    """Routes Graph requests; every answer is a ``Reply`` the HTTP layer writes out."""

    def __init__(self, sandbox: GraphSandbox) -> None:
        self.sandbox = sandbox
        self.state = sandbox.state
        self._url_key = wire.fbtrace_id().encode()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = [
            ("POST", re.compile(rf"^/{_VERSION}/{_NODE}/messages/?$"), self._send),
            ("POST", re.compile(rf"^/{_VERSION}/{_NODE}/media/?$"), self._upload),
            ("GET", re.compile(rf"^/{_VERSION}/{_NODE}/message_templates/?$"), self._templates),
            ("GET", re.compile(r"^/whatsapp_business/attachments/?$"), self._download),
            ("GET", re.compile(rf"^/{_VERSION}/{_NODE}/?$"), self._node),
        ]

    def handle(self, request: Request) -> Reply:
        try:
            for method, pattern, handler in self._routes:
                match = pattern.match(request.path)
                if match and method == request.method:
                    return handler(request, *match.groups())
            raise GraphFault(
                2500,
                message=f"Unknown path components: {request.path}",
                whatsapp=False,
            )
        except GraphFault as fault:
            return fault_reply(fault)

    # -- auth -----------------------------------------------------------------------------

    def _auth_number(self, request: Request, phone_number_id: str) -> None:
        token = request.token()
        if not token:
            raise _invalid_token()
        number = self.state.numbers.get(phone_number_id)
        if number is None:
            if self.state.strict():
                raise _no_such_object(request.method, phone_number_id)
        elif token not in number.tokens:
            raise _invalid_token()

    # -- messages -------------------------------------------------------------------------

    def _send(self, request: Request, version: str, phone_number_id: str) -> Reply:
        self._auth_number(request, phone_number_id)
        payload = _json_body(request.body)
        kind = check_send(payload)
        if kind == "read":
            with self.state.lock:
                self.state.reads.append(
                    {
                        "phone_number_id": phone_number_id,
                        "message_id": payload["message_id"],
                        "typing_indicator": payload.get("typing_indicator"),
                        "received_at": time.monotonic(),
                        "received_at_wall": time.time(),
                    }
                )
            return json_reply(200, {"success": True})

        to = payload["to"]
        delay = self.state.take(self.state.delays, to)
        drop = self.state.take(self.state.drops, to)
        if drop is not None and not drop.after_processing:
            return Reply(0, drop=True)
        failure = self.state.take_failure(to)
        if failure is not None and not failure.asynchronous:
            reply = _failure_reply(failure)
        else:
            reply = self._accept(version, phone_number_id, payload, kind, failure)
        reply.delay = delay.seconds if delay else 0.0
        reply.drop = drop is not None
        return reply

    def _accept(
        self,
        version: str,
        phone_number_id: str,
        payload: dict[str, Any],
        kind: str,
        failure: FailureRule | None,
    ) -> Reply:
        number = self.state.number(phone_number_id)
        template = None
        if kind == "template":
            language = payload["template"]["language"]["code"]
            name = payload["template"]["name"]
            template = self.state.find_template(number.waba_id, name, language)
            if template is None or (template and template.get("status") != "APPROVED"):
                raise GraphFault(
                    132001,
                    f"template name ({name}) does not exist in {language}",
                    title="Template name does not exist in the translation",
                )
        to = payload["to"]
        wa_id = wire.digits(to)
        wamid = wire.new_wamid(wa_id)
        with self.state.lock:
            record = {
                "seq": len(self.state.sent),
                "phone_number_id": phone_number_id,
                "version": version,
                "to": to,
                "wa_id": wa_id,
                "type": kind,
                "payload": payload,
                "wamid": wamid,
                "template_category": (template or {}).get("category"),
                "simulated_failure": failure.code if failure else None,
                "received_at": time.monotonic(),
                "received_at_wall": time.time(),
            }
            self.state.sent.append(record)
        self.sandbox._schedule_statuses(record, failure)
        return json_reply(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": wamid}],
            },
        )

    # -- media ----------------------------------------------------------------------------

    def _upload(self, request: Request, version: str, phone_number_id: str) -> Reply:
        self._auth_number(request, phone_number_id)
        fields, files = parse_multipart(request.headers.get("Content-Type") or "", request.body)
        if fields.get("messaging_product") != "whatsapp":
            raise GraphFault(100, "The parameter messaging_product is required.")
        if "file" not in files:
            raise GraphFault(100, "The parameter file is required.")
        data, filename, part_type = files["file"]
        mime_type = fields.get("type") or part_type or "application/octet-stream"
        media = self.state.add_media(None, data, mime_type, phone_number_id=phone_number_id, filename=filename)
        return json_reply(200, {"id": media.media_id})

    def media_url(self, origin: str, media_id: str) -> str:
        expires = int(time.time() + self.sandbox.media_url_ttl)
        return f"{origin}/whatsapp_business/attachments/?" + urlencode(
            {"mid": media_id, "ext": expires, "hash": self._url_hash(media_id, expires)}
        )

    def _url_hash(self, media_id: str, expires: int) -> str:
        message = f"{media_id}:{expires}".encode()
        return hmac.new(self._url_key, message, hashlib.sha256).hexdigest()[:24]

    def _node(self, request: Request, version: str, node: str) -> Reply:
        token = request.token()
        if not token:
            raise _invalid_token()
        media = self.state.media.get(node)
        if media is not None:
            owner = media.phone_number_id
            wanted = request.param("phone_number_id")
            if wanted and owner and wanted != owner:
                raise _no_such_object("GET", node)
            self._check_owner_token(token, owner)
            return json_reply(
                200,
                {
                    "messaging_product": "whatsapp",
                    "url": self.media_url(request.origin, node),
                    "mime_type": media.mime_type,
                    "sha256": media.sha256_hex,
                    "file_size": len(media.data),
                    "id": node,
                },
            )
        number = self.state.numbers.get(node)
        if number is not None:
            self._check_owner_token(token, node)
            return json_reply(
                200,
                {
                    "verified_name": "BizMitra Sandbox",
                    "display_phone_number": number.display_phone_number,
                    "id": node,
                    "quality_rating": number.quality_rating,
                    "status": number.status,
                    "platform_type": "CLOUD_API",
                    "throughput": {"level": "STANDARD"},
                },
            )
        raise _no_such_object("GET", node)

    def _check_owner_token(self, token: str, phone_number_id: str | None) -> None:
        number = self.state.numbers.get(phone_number_id or "")
        if number is not None and token not in number.tokens:
            raise _invalid_token()

    def _download(self, request: Request) -> Reply:
        token = request.token()
        if not token:
            raise _invalid_token()
        media_id = request.param("mid") or ""
        try:
            expires = int(request.param("ext") or "0")
        except ValueError:
            expires = 0
        valid = hmac.compare_digest(request.param("hash") or "", self._url_hash(media_id, expires))
        media = self.state.media.get(media_id)
        if not valid or expires < time.time() or media is None:
            # Meta: a 404 here means the URL expired; fetch a new one (FACTS.md §6).
            return Reply(404, b"Not Found", content_type="text/plain")
        self._check_owner_token(token, media.phone_number_id)
        return Reply(200, media.data, content_type=media.mime_type)

    # -- templates ------------------------------------------------------------------------

    def _templates(self, request: Request, version: str, waba_id: str) -> Reply:
        token = request.token()
        if not token:
            raise _invalid_token()
        tokens = self.state.tokens_for_waba(waba_id)
        if tokens is None and self.state.strict():
            raise _no_such_object("GET", waba_id)
        if tokens is not None and token not in tokens:
            raise _invalid_token()
        try:
            limit = int(request.param("limit") or "25")
            start = _decode_cursor(request.param("after")) + 1 if request.param("after") else 0
        except ValueError as exc:
            raise GraphFault(100, f"Invalid paging parameter: {exc}", whatsapp=False) from exc
        if not 1 <= limit <= 1000:
            raise GraphFault(100, "Param limit must be between 1 and 1000.", whatsapp=False)
        with self.state.lock:
            templates = list(self.state.templates.get(waba_id, []))
        for key in ("status", "language", "category"):
            wanted = request.param(key)
            if wanted:
                templates = [t for t in templates if str(t.get(key, "")).upper() == wanted.upper()]
        name = request.param("name")
        if name:
            templates = [t for t in templates if name in t["name"]]
        page = templates[start : start + limit]
        fields = [f for f in (request.param("fields") or "").split(",") if f]
        if fields:
            page = [{k: t[k] for k in [*fields, "id"] if k in t} for t in page]
        if not page:
            return json_reply(200, {"data": []})
        paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page) - 1)}}
        if start + limit < len(templates):
            query = {k: v[0] for k, v in request.query.items() if k != "after"}
            query["after"] = paging["cursors"]["after"]
            paging["next"] = f"{request.origin}/{version}/{waba_id}/message_templates?{urlencode(query)}"
        return json_reply(200, {"data": page, "paging": paging})


def _failure_reply(rule: FailureRule) -> Reply:
    if rule.plain:
        # An edge/proxy failure: no Graph error body at all.
        return Reply(rule.http_status, b"Internal Server Error", content_type="text/plain")
    body = wire.error_body(rule.code, title=rule.title, details=rule.details)
    return json_reply(rule.http_status, body)


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise GraphFault(100, "The request body is not valid JSON.") from exc


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    padded = (cursor or "") + "=" * (-len(cursor or "") % 4)
    text = base64.urlsafe_b64decode(padded.encode()).decode()
    prefix, _, index = text.partition(":")
    if prefix != "sandbox":
        raise ValueError("unknown cursor")
    return int(index)


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, tuple[bytes, str | None, str | None]]]:
    """Split a ``multipart/form-data`` body into text fields and files.

    Hand-written because the stdlib ``cgi`` module is deprecated (removed in 3.13) and the
    ``email`` parser rewrites line endings inside binary parts.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or not match:
        raise GraphFault(100, "The request must be multipart/form-data.")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, str] = {}
    files: dict[str, tuple[bytes, str | None, str | None]] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if not name:
            continue
        if filename is not None:
            files[name.group(1)] = (data, filename.group(1), headers.get("content-type"))
        else:
            fields[name.group(1)] = data.decode("utf-8", "replace")
    return fields, files
