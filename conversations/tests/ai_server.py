"""A local OpenAI-compatible chat completions server for the AI assistant's tests.

Speaks ``POST /v1/chat/completions`` over real HTTP with the real wire format (the
``openai`` client parses its answers). Each test scripts it: a queue of answers (text,
tool calls, HTTP errors, each optionally delayed); a request with nothing queued gets a
500. Every request body and its headers are recorded so tests can assert what was sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tool_call(name: str, arguments: Any, *, call_id: str | None = None) -> dict[str, Any]:
    """One ``tool_calls`` item; ``arguments`` is sent as given when a string, else as JSON."""
    return {
        "id": call_id or f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)},
    }


class FakeAIServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._script: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                    return
                with server._lock:
                    server.requests.append(json.loads(raw or b"{}"))
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    step = server._script.popleft() if server._script else None
                if step is None:
                    self._send(500, {"error": {"message": "no scripted response", "type": "server_error"}})
                    return
                if step.get("delay"):
                    time.sleep(step["delay"])
                self._send(step["status"], step["body"])

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- scripting ---------------------------------------------------------------------

    def reply(
        self,
        text: str | None = None,
        *,
        tool_calls: list[dict[str, Any]] | None = None,
        prompt_tokens: int = 50,
        completion_tokens: int = 10,
        delay: float = 0.0,
        usage: bool = True,
    ) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls:
            message["tool_calls"] = tool_calls
        body: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "test-model",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if tool_calls else "stop",
                }
            ],
        }
        if usage:
            body["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        self._push({"status": 200, "body": body, "delay": delay})

    def reply_tools(self, *calls: dict[str, Any], text: str | None = None, **kwargs: Any) -> None:
        self.reply(text, tool_calls=list(calls), **kwargs)

    def fail(self, status: int = 500, message: str = "upstream exploded", *, delay: float = 0.0) -> None:
        self._push({"status": status, "body": {"error": {"message": message, "type": "server_error"}}, "delay": delay})

    def _push(self, step: dict[str, Any]) -> None:
        with self._lock:
            self._script.append(step)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)
