"""Synchronous client for the WhatsApp Cloud API (Meta Graph API).

One small class over ``httpx``; retries and rate limiting are the caller's policy (the
send task), which reads ``GraphError.retryable``. Facts: FACTS.md §2 (send), §2.4 and §3
(errors), §6 (media).

Multi-tenant: the access token belongs to the ``GraphClient`` instance and is put on each
request only. Connection pools are shared per (process, base URL) and never carry a
token, so instances for different tenants are cheap and safe to use from many threads.
The base URL is ``https://graph.facebook.com`` in production and a ``GraphSandbox`` URL
in development and tests.

Pure Python (no Django) so the send task, the sandbox tests and benchmarks share it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

logger = logging.getLogger(__name__)

RETRYABLE_ERROR_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057})
"""Graph error codes worth retrying later (FACTS.md §3: our reading of Meta's error-code
page). Code 1 ("invalid request or possible server error") is included because a bounded
retry costs little. Every other code is permanent unless the answer was an HTTP 5xx."""

RATE_LIMIT_ERROR_CODES = frozenset({4, 80007, 130429, 131056})
"""App, WABA, per-number throughput and pair (same recipient) rate limits: slow down."""

AUTH_ERROR_CODES = frozenset({0, 190})
"""Token missing, expired or revoked: retrying is pointless until the token is replaced."""

_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")
_MAX_TEMPLATE_PAGES = 100


class GraphError(Exception):
    """Base of every error this client raises; ``retryable`` drives the caller's policy."""

    retryable: bool = False


class GraphApiError(GraphError):
    """Meta answered with its error body ``{"error": {...}}`` (FACTS.md §2.4).

    Branch on ``code`` (Meta: "build your app's error handling around error codes instead
    of subcodes or HTTP response status codes").
    """

    def __init__(
        self,
        code: int,
        title: str,
        message: str,
        http_status: int,
        fbtrace_id: str = "",
        details: str = "",
        is_transient: bool | None = None,
        *,
        error_subcode: int | None = None,
        error_type: str = "",
        raw: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.title = title
        self.message = message
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.details = details
        self.is_transient = is_transient
        self.error_subcode = error_subcode
        self.error_type = error_type
        self.raw = dict(raw or {})
        super().__init__(f"Graph API error {code} ({title}) [HTTP {http_status}]: {details or message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (Celery stores and re-raises task exceptions) despite the custom __init__.
        args = (self.code, self.title, self.message, self.http_status, self.fbtrace_id, self.details, self.is_transient)
        return (
            self.__class__,
            args,
            {"error_subcode": self.error_subcode, "error_type": self.error_type, "raw": self.raw},
        )

    @classmethod
    def from_error_body(cls, error: Mapping[str, Any], *, http_status: int) -> GraphApiError:
        """Build from the object under ``"error"`` in Meta's answer."""
        message = str(error.get("message") or "")
        title = str(error.get("error_user_title") or "") or _CODE_PREFIX.sub("", message)
        error_data = error.get("error_data")
        if isinstance(error_data, str):
            # Some Graph errors carry error_data as a JSON-encoded string.
            try:
                error_data = json.loads(error_data)
            except ValueError:
                error_data = {"details": error_data}
        details = ""
        if isinstance(error_data, Mapping):
            details = str(error_data.get("details") or "")
        details = details or str(error.get("error_user_msg") or "")
        is_transient = error.get("is_transient")
        return cls(
            code=_as_int(error.get("code"), default=-1),
            title=title,
            message=message,
            http_status=http_status,
            fbtrace_id=str(error.get("fbtrace_id") or ""),
            details=details,
            is_transient=is_transient if isinstance(is_transient, bool) else None,
            error_subcode=_as_int(error.get("error_subcode"), default=None),
            error_type=str(error.get("type") or ""),
            raw=error,
        )

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.code in RETRYABLE_ERROR_CODES or self.http_status >= 500 or self.is_transient is True

    @property
    def is_rate_limit(self) -> bool:
        return self.code in RATE_LIMIT_ERROR_CODES

    @property
    def is_auth_error(self) -> bool:
        return self.code in AUTH_ERROR_CODES


class GraphTransportError(GraphError):
    """No usable answer: network error, timeout, dropped connection or a non-Graph body.

    Always retryable. ``maybe_processed`` is False only when the request provably never
    reached Meta (connection refused, connect timeout); otherwise a send may have been
    accepted, and Meta has no idempotency key, so a retry can deliver a duplicate.
    """

    retryable = True

    def __init__(self, message: str, *, http_status: int | None = None, maybe_processed: bool = True) -> None:
        self.http_status = http_status
        self.maybe_processed = maybe_processed
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, self.args, {"http_status": self.http_status, "maybe_processed": self.maybe_processed})


@dataclass(frozen=True, slots=True)
class SendResult:
    """Meta accepted the message (not delivered yet: that comes as status webhooks)."""

    wamid: str
    wa_id: str
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """Answer of ``GET /<MEDIA_ID>``; ``url`` expires after 5 minutes (FACTS.md §6)."""

    url: str
    mime_type: str
    sha256: str
    file_size: int
    id: str = ""


_pool_lock = threading.Lock()
_pools: dict[tuple[int, str], httpx.Client] = {}


def _pooled_http(base_url: str) -> httpx.Client:
    # Keyed by pid too: a pool inherited through fork (Celery prefork) shares sockets
    # with the parent and must not be reused in the child.
    key = (os.getpid(), base_url)
    with _pool_lock:
        client = _pools.get(key)
        if client is None or client.is_closed:
            client = httpx.Client(
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                follow_redirects=False,
            )
            _pools[key] = client
        return client


def close_pools() -> None:
    """Close this process's shared connection pools (tests, worker shutdown)."""
    with _pool_lock:
        for (pid, _), client in list(_pools.items()):
            if pid == os.getpid():
                client.close()
        _pools.clear()


class GraphClient:
    """Graph API calls for one access token (one tenant or system user).

    ``base_url`` is scheme and host only (``https://graph.facebook.com``);
    ``api_version`` is ``"v25.0"`` or ``"25.0"``. With ``transport`` the instance owns a
    private ``httpx.Client`` (tests); otherwise it borrows the shared pool.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        access_token: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url.rstrip("/")
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if not access_token:
            raise ValueError("access_token is required")
        version = api_version.strip("/")
        self.base_url = base_url
        self.api_version = version if version.startswith("v") else f"v{version}"
        self.timeout = timeout
        self._token = access_token
        self._own_http = transport is not None
        self._http = (
            httpx.Client(transport=transport, follow_redirects=False)
            if transport is not None
            else _pooled_http(base_url)
        )

    def __repr__(self) -> str:
        return f"GraphClient(base_url={self.base_url!r}, api_version={self.api_version!r})"

    def close(self) -> None:
        """Close a private client; the shared pool stays open."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- messages -------------------------------------------------------------------------

    def send_message(self, phone_number_id: str, payload: Mapping[str, Any]) -> SendResult:
        """``POST /<ver>/<PHONE_NUMBER_ID>/messages`` (FACTS.md §2.1-2.3).

        ``messaging_product`` is filled in when missing. A ``GraphTransportError`` with
        ``maybe_processed`` means the message may have been sent anyway.
        """
        body = {"messaging_product": "whatsapp", **payload}
        data = self._json("POST", self._url(phone_number_id, "messages"), json=body)
        messages = data.get("messages")
        wamid = ""
        if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
            wamid = str(messages[0].get("id") or "")
        if not wamid:
            raise GraphTransportError("send answered 200 without messages[0].id", http_status=200)
        contacts = data.get("contacts")
        wa_id = ""
        if isinstance(contacts, list) and contacts and isinstance(contacts[0], Mapping):
            wa_id = str(contacts[0].get("wa_id") or "")
        return SendResult(wamid=wamid, wa_id=wa_id, raw=data)

    def mark_read(self, phone_number_id: str, wamid: str, *, typing_indicator: bool = False) -> None:
        """Mark an inbound message (and earlier ones) read; optionally show typing."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        }
        if typing_indicator:
            body["typing_indicator"] = {"type": "text"}
        self._json("POST", self._url(phone_number_id, "messages"), json=body)

    # -- numbers --------------------------------------------------------------------------

    def get_phone_number(
        self,
        phone_number_id: str,
        *,
        fields: Sequence[str] = ("display_phone_number", "verified_name", "quality_rating"),
    ) -> dict[str, Any]:
        """``GET /<ver>/<PHONE_NUMBER_ID>?fields=…``: the number as Meta knows it; a wrong token
        or a number this token may not read raises ``GraphApiError`` (190, 100)."""
        return self._json("GET", self._url(phone_number_id), params={"fields": ",".join(fields)})

    # -- media ----------------------------------------------------------------------------

    def get_media(self, media_id: str, phone_number_id: str | None = None) -> MediaInfo:
        """``GET /<ver>/<MEDIA_ID>``; ``phone_number_id`` makes Meta check ownership."""
        params = {"phone_number_id": phone_number_id} if phone_number_id else None
        data = self._json("GET", self._url(media_id), params=params)
        return MediaInfo(
            url=str(data.get("url") or ""),
            mime_type=str(data.get("mime_type") or ""),
            sha256=str(data.get("sha256") or ""),
            file_size=_as_int(data.get("file_size"), default=0),
            id=str(data.get("id") or media_id),
        )

    def download_media(self, url: str) -> bytes:
        """Fetch the bytes behind a ``MediaInfo.url``; Meta requires the Bearer token here.

        A 404 (``GraphTransportError.http_status``) means the URL expired: call
        ``get_media`` again (FACTS.md §6).
        """
        response = self._send("GET", url)
        if response.status_code >= 400:
            raise _error_from(response)
        return response.content

    def upload_media(self, phone_number_id: str, data: bytes, mime_type: str, filename: str) -> str:
        """Multipart ``POST /<ver>/<PHONE_NUMBER_ID>/media``; returns the media id."""
        answer = self._json(
            "POST",
            self._url(phone_number_id, "media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, data, mime_type)},
        )
        media_id = str(answer.get("id") or "")
        if not media_id:
            raise GraphTransportError("media upload answered without an id", http_status=200)
        return media_id

    # -- templates ------------------------------------------------------------------------

    def list_message_templates(
        self,
        waba_id: str,
        *,
        limit: int = 100,
        fields: Sequence[str] | None = None,
        on_page: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Every template of a WABA, following ``paging.next``; ``on_page(pages, templates)``
        after each page read (a progress bar: Meta's listing gives no total up front)."""
        query: dict[str, Any] = {"limit": limit}
        if fields:
            query["fields"] = ",".join(fields)
        params: dict[str, Any] | None = query
        url = self._url(waba_id, "message_templates")
        templates: list[dict[str, Any]] = []
        for index in range(_MAX_TEMPLATE_PAGES):
            page = self._json("GET", url, params=params)
            templates.extend(t for t in page.get("data") or [] if isinstance(t, dict))
            if on_page is not None:
                on_page(index + 1, len(templates))
            next_url = (page.get("paging") or {}).get("next")
            if not next_url:
                return templates
            url = self._same_origin(str(next_url))
            params = None  # the next URL carries the query
        raise GraphTransportError(f"template paging did not end after {_MAX_TEMPLATE_PAGES} pages")

    # -- plumbing -------------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        for part in parts:
            if not part:
                raise ValueError("Graph object ids must be non-empty")
        path = "/".join(quote(str(p), safe="") for p in parts)
        return f"{self.base_url}/{self.api_version}/{path}"

    def _same_origin(self, url: str) -> str:
        # paging.next is absolute; re-root it on base_url so the token never leaves it.
        parts = urlsplit(url)
        return f"{self.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            return self._http.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise GraphTransportError(f"{method} {_strip_query(url)}: {exc!r}", maybe_processed=False) from exc
        except httpx.TransportError as exc:
            raise GraphTransportError(f"{method} {_strip_query(url)}: {exc!r}") from exc

    def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, url, **kwargs)
        if response.status_code >= 400:
            raise _error_from(response)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise GraphTransportError(
                f"{method} {_strip_query(url)}: non-JSON answer {_snippet(response)}",
                http_status=response.status_code,
            )
        return data


def _error_from(response: httpx.Response) -> GraphError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), Mapping):
        error = GraphApiError.from_error_body(body["error"], http_status=response.status_code)
        logger.info(
            "graph api error code=%s status=%s fbtrace_id=%s",
            error.code,
            error.http_status,
            error.fbtrace_id,
        )
        return error
    return GraphTransportError(
        f"HTTP {response.status_code} without a Graph error body: {_snippet(response)}",
        http_status=response.status_code,
    )


def _snippet(response: httpx.Response) -> str:
    return repr(response.content[:200])


def _strip_query(url: str) -> str:
    # Media URLs carry signed query strings; keep them out of logs and messages.
    return url.split("?", 1)[0]


def _as_int(value: Any, *, default: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
