"""Request ids and log context: one id follows a webhook from its POST to the Graph send.

- ``RequestIdMiddleware`` (first in ``MIDDLEWARE``) takes the caller's ``X-Request-ID`` when it
  looks like an id, else makes one, echoes it on the response, and writes the access log line.
- ``LogContextFilter`` puts the context on every log record: ``request_id``, ``task_id``,
  ``task_name``, ``delivery_id``, ``wamid`` (the schema comes from django-tenants' filter).
- Celery (``bizmitra.celery``): ``before_task_publish`` copies the current request id into the
  task's headers, ``task_prerun`` binds it (with the task id) in the worker, so a task's log
  lines and the tasks it sends carry it too.
- The webhook view publishes no task (the relay turns the INSERT's NOTIFY into tasks, see
  ``conversations/whatsapp/relay.py``), so the id crosses over through Redis instead:
  ``delivery_remember`` (view, after the row is stored) and ``delivery_context`` (ingest task,
  around each delivery). Best effort: Redis down costs the correlation, never the webhook.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("bizmitra.access")

FIELDS = ("request_id", "task_id", "task_name", "delivery_id", "wamid")
HEADER = "bizmitra_request_id"
"""Celery message header carrying the request id (beside tenant-schemas-celery's ``_schema_name``)."""

_VALID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("bizmitra_log_context", default=None)


def _current() -> dict[str, str]:
    return _context.get() or {}


def request_id_current() -> str:
    return _current().get("request_id", "")


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_clean(value: str | None) -> str:
    """``value`` when it looks like an id a proxy or client would send, else a new id."""
    value = (value or "").strip()
    return value if _VALID.fullmatch(value) else request_id_new()


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` (see ``FIELDS``; None/"" leave a field as it was) to the log context of
    this thread or task until the block ends."""
    merged = {**_current(), **{k: str(v) for k, v in fields.items() if v not in (None, "")}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class LogContextFilter(logging.Filter):
    """Copy the log context onto each record (``placeholder`` for fields nobody set)."""

    def __init__(self, name: str = "", placeholder: str = "") -> None:
        super().__init__(name)
        self.placeholder = placeholder

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current()
        for field in FIELDS:
            if not hasattr(record, field):  # an explicit extra={"wamid": …} wins
                setattr(record, field, context.get(field, self.placeholder))
        return True


class RequestIdMiddleware:
    """Bind a request id to the request (``request.request_id``), echo it, log the request."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.header = settings.REQUEST_ID_HEADER
        self.meta_key = "HTTP_" + self.header.upper().replace("-", "_")

    def __call__(self, request):
        started = time.perf_counter()
        request_id = request_id_clean(request.META.get(self.meta_key))
        request.request_id = request_id
        with log_context(request_id=request_id):
            response = self.get_response(request)
            response[self.header] = request_id
            if settings.ACCESS_LOG:
                self._log(request, response, started)
        return response

    @staticmethod
    def _log(request, response, started: float) -> None:
        # Probes every few seconds would drown the rest: /healthz only at DEBUG.
        level = logging.DEBUG if request.path_info.startswith("/healthz") else logging.INFO
        if not access_logger.isEnabledFor(level):
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        access_logger.log(
            level,
            "%s %s %s %.1fms",
            request.method,
            request.path_info,
            response.status_code,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path_info,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "host": request.get_host() if _host_ok(request) else "",
                "remote_addr": request.META.get("REMOTE_ADDR", ""),
            },
        )


def _host_ok(request) -> bool:
    try:
        request.get_host()
    except Exception:  # DisallowedHost: the access line still goes out, without the host
        return False
    return True


# --- Celery -----------------------------------------------------------------------------------


def task_headers_add(headers: dict | None) -> None:
    """``before_task_publish``: the task inherits the publisher's request id."""
    request_id = request_id_current()
    if request_id and headers is not None:
        headers.setdefault(HEADER, request_id)


_task_tokens: dict[str, contextvars.Token] = {}


def task_context_enter(task_id: str | None, task) -> None:
    """``task_prerun``: bind the request id from the headers, and the task's id and name.

    Without the header (beat, the sweepers) a task keeps what its caller had bound: nothing in
    a worker process (``task_context_exit`` cleared it), the caller's id for an eager task.
    """
    request = getattr(task, "request", None)
    request_id = getattr(request, HEADER, None) if request is not None else None
    fields = {"task_id": task_id or "", "task_name": getattr(task, "name", ""), "request_id": request_id or ""}
    if task_id:
        _task_tokens[task_id] = _context.set({**_current(), **{k: str(v) for k, v in fields.items() if v}})


def task_context_exit(task_id: str | None) -> None:
    """``task_postrun``: back to the worker's context (nothing of this task's is left bound)."""
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            _context.reset(token)
        except ValueError:  # set in another context (eager tasks nested oddly): just clear
            _context.set({})


# --- the webhook's id, handed to the worker that processes its delivery ----------------------

_REDIS_DOWN_PAUSE = 5.0


class _DeliveryIds:
    """Redis keys ``<prefix>:request-id:delivery:<id>``; after a failure, pause 5 s (the webhook
    must not wait on a dead Redis once per POST)."""

    def __init__(self) -> None:
        self._clients: dict[int, object] = {}
        self._lock = threading.Lock()
        self._down_until = 0.0

    def _client(self):
        import redis

        pid = os.getpid()  # a pool inherited through fork (Celery prefork) is not this process's
        with self._lock:
            client = self._clients.get(pid)
            if client is None:
                client = self._clients[pid] = redis.Redis.from_url(
                    settings.REDIS_URL, socket_connect_timeout=0.2, socket_timeout=0.2
                )
            return client

    @staticmethod
    def key(delivery_id: int) -> str:
        return f"{settings.CACHES['default']['KEY_PREFIX']}:request-id:delivery:{delivery_id}"

    def set(self, delivery_id: int, request_id: str) -> None:
        if time.monotonic() < self._down_until:
            return
        try:
            self._client().set(self.key(delivery_id), request_id, ex=settings.REQUEST_ID_DELIVERY_TTL_SECONDS)
        except Exception:
            self._down_until = time.monotonic() + _REDIS_DOWN_PAUSE
            logger.warning("request id of delivery %s not kept: Redis unavailable", delivery_id, exc_info=True)

    def get(self, delivery_id: int) -> str:
        if time.monotonic() < self._down_until:
            return ""
        try:
            value = self._client().get(self.key(delivery_id))
        except Exception:
            self._down_until = time.monotonic() + _REDIS_DOWN_PAUSE
            return ""
        return value.decode() if isinstance(value, bytes) else (value or "")


_delivery_ids = _DeliveryIds()


def delivery_remember(delivery_id: int) -> None:
    """Keep the current request id for the worker that will process ``delivery_id``."""
    request_id = request_id_current()
    if request_id:
        _delivery_ids.set(delivery_id, request_id)


@contextmanager
def delivery_context(delivery_id: int) -> Iterator[None]:
    """Log (and publish tasks) as the webhook request that stored ``delivery_id``."""
    started = time.perf_counter()
    with log_context(delivery_id=delivery_id, request_id=_delivery_ids.get(delivery_id)):
        yield
        # The ingest's line of the webhook's story (the view's access line, this, the engine's and
        # the send's lines share the request id).
        logger.info("webhook delivery %s handled in %.1fms", delivery_id, (time.perf_counter() - started) * 1000)
