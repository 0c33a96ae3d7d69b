"""Helpers shared by the sandbox tests: a stdlib webhook receiver and payload builders."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APP_SECRET = "sandbox-app-secret"
TOKEN = "tenant-token"
PNID = "106540352242922"
WABA_ID = "102290129340398"
CUSTOMER = "16505551234"
VERIFY_TOKEN = "verify-me"


class WebhookReceiver:
    """A tiny stand-in for our webhook endpoint: records raw POSTs, answers 200 unless
    ``answers`` holds statuses to give first (one per request)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "answered": status})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self) -> None:  # noqa: N802
                # Meta's subscription check: echo hub.challenge for the right verify token.
                query = parse_qs(urlsplit(self.path).query)
                ok = query.get("hub.verify_token") == [VERIFY_TOKEN] and query.get("hub.mode") == ["subscribe"]
                body = query["hub.challenge"][0].encode() if ok else b"forbidden"
                self.send_response(200 if ok else 403)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/whatsapp/"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.requests)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.received()]

    def statuses(self) -> list[dict[str, Any]]:
        return [
            status
            for payload in self.payloads()
            for entry in payload["entry"]
            for change in entry["changes"]
            for status in change["value"].get("statuses", [])
        ]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 3.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            received = self.received()
            if predicate(received):
                return received
            if time.monotonic() > deadline:
                raise AssertionError(f"webhook receiver: condition not met after {timeout}s ({len(received)} requests)")
            time.sleep(0.005)


def signature_valid(request: dict[str, Any], secret: str = APP_SECRET) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"].get("X-Hub-Signature-256", ""), expected)


def text_payload(body: str = "Hello from BizMitra", to: str = "+" + CUSTOMER, **extra: Any) -> dict[str, Any]:
    return {
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": body},
        **extra,
    }
