"""Signed webhook POSTs from the sandbox to our server, the way Meta delivers them.

Meta delivers concurrently and retries anything but HTTP 200 "immediately, then a few
more times with decreasing frequency" (FACTS.md §1.3). The sandbox does the same on a
few worker threads fed by a time-ordered queue, with a short retry schedule.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .wire import signature_headers

logger = logging.getLogger(__name__)

Target = Callable[[], tuple[str | None, str]]
"""Returns the current ``(webhook_url, app_secret)``; read at each attempt."""


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building the default context costs ~20 ms; tests start many sandboxes.
    return httpx.create_ssl_context()


class WebhookDeliveryError(RuntimeError):
    """A synchronous webhook POST got no HTTP answer (or no webhook URL is set)."""


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    body: bytes = field(compare=False)
    meta: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class WebhookDispatcher:
    """Posts webhook bodies after a delay, retrying non-200 answers.

    ``deliveries`` records each attempt as a dict: ``seq``, ``attempt``, ``status_code``
    (``None`` when the POST failed), ``error``, ``duration``, ``at`` plus the job's meta
    (``kind``, ``wamid``, ``status``).
    """

    def __init__(
        self,
        target: Target,
        *,
        workers: int = 4,
        retry_delays: tuple[float, ...] = (0.05, 0.5, 2.0),
        timeout: float = 10.0,
    ) -> None:
        self._target = target
        self._workers_count = workers
        self.retry_delays = retry_delays
        self._timeout = timeout
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._pending = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._http: httpx.Client | None = None
        self._log_lock = threading.Lock()
        self.deliveries: list[dict[str, Any]] = []

    def start(self) -> None:
        self._stopping = False
        self._http = httpx.Client(timeout=self._timeout, follow_redirects=False, verify=_ssl_context())
        for index in range(self._workers_count):
            thread = threading.Thread(target=self._run, name=f"graph-sandbox-webhooks-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopping = True
            self._pending -= len(self._heap)
            self._heap.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def pending(self) -> int:
        """Webhooks queued or in flight."""
        with self._cond:
            return self._pending

    def submit(self, body: bytes, *, delay: float = 0.0, meta: dict[str, Any]) -> None:
        job = _Job(time.monotonic() + delay, next(self._seq), body, meta)
        with self._cond:
            heapq.heappush(self._heap, job)
            self._pending += 1
            self._cond.notify()

    def clear(self) -> None:
        """Drop queued deliveries and forget the log (in-flight POSTs still finish)."""
        with self._cond:
            self._pending -= len(self._heap)
            self._heap.clear()
            self._cond.notify_all()
        with self._log_lock:
            self.deliveries.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def snapshot(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self.deliveries)

    def get(self, url: str, *, params: dict[str, str]) -> tuple[int, bytes]:
        """A plain GET from the sandbox (webhook verification); raises on no answer."""
        if self._http is None:
            raise WebhookDeliveryError("dispatcher not started")
        try:
            response = self._http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise WebhookDeliveryError(repr(exc)) from exc
        return response.status_code, response.content

    def post_now(self, body: bytes, *, meta: dict[str, Any]) -> int:
        """One synchronous signed POST; returns the HTTP status (no retries)."""
        status, error = self._post(body, meta, attempt=1)
        if status is None:
            raise WebhookDeliveryError(error)
        return status

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0].due <= now:
                        job = heapq.heappop(self._heap)
                        break
                    self._cond.wait(self._heap[0].due - now if self._heap else None)
            job.attempt += 1
            status, _ = self._post(job.body, job.meta, attempt=job.attempt)
            with self._cond:
                if status != 200 and job.attempt <= len(self.retry_delays) and not self._stopping:
                    job.due = time.monotonic() + self.retry_delays[job.attempt - 1]
                    heapq.heappush(self._heap, job)
                else:
                    if status != 200:
                        logger.warning("sandbox webhook dropped after %s attempts: %s", job.attempt, job.meta)
                    self._pending -= 1
                self._cond.notify_all()

    def _post(self, body: bytes, meta: dict[str, Any], *, attempt: int) -> tuple[int | None, str]:
        url, app_secret = self._target()
        started = time.monotonic()
        status: int | None = None
        error = ""
        if not url:
            error = "no webhook_url configured"
        elif self._http is None:
            error = "dispatcher not started"
        else:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "facebookexternalua",
                **signature_headers(app_secret, body),
            }
            try:
                status = self._http.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                error = repr(exc)
        record = {
            **meta,
            "attempt": attempt,
            "status_code": status,
            "error": error,
            "duration": time.monotonic() - started,
            "at": time.time(),
        }
        with self._log_lock:
            record["seq"] = len(self.deliveries)
            self.deliveries.append(record)
        return status, error
