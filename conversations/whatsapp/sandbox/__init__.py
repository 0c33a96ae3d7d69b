"""Graph API sandbox: Meta's WhatsApp Cloud API on localhost, for development and tests.

    with GraphSandbox(webhook_url="http://127.0.0.1:8000/webhooks/whatsapp/", app_secret="s") as sb:
        client = GraphClient(base_url=sb.base_url, api_version="v25.0", access_token="t")
        client.send_message("106540352242922", {"to": "+16505551234", "type": "text",
                                                "text": {"body": "hi"}})
        sb.inject_text("106540352242922", "16505551234", "hello")

From a shell: ``python -m conversations.whatsapp.sandbox --port 8090 --webhook-url URL
--app-secret S``. Pure Python: no Django import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .delivery import WebhookDeliveryError
from .server import GraphSandbox, InjectResult

__all__ = ["GraphSandbox", "InjectResult", "WebhookDeliveryError", "serve_forever"]


def serve_forever(
    *,
    stop_event: threading.Event | None = None,
    announce: Callable[[str], Any] | None = None,
    **kwargs: Any,
) -> None:
    """Run a ``GraphSandbox(**kwargs)`` until Ctrl-C or until ``stop_event`` is set.

    ``announce`` receives one line with the base URL once the server listens (the Django
    management command can pass ``self.stdout.write``).
    """
    stop_event = stop_event or threading.Event()
    announce = announce or _print_line
    with GraphSandbox(**kwargs) as sandbox:
        announce(f"Graph API sandbox listening on {sandbox.base_url} (webhooks -> {sandbox.webhook_url or 'none'})")
        logging.getLogger(__name__).info("graph sandbox serving at %s", sandbox.base_url)
        try:
            while not stop_event.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


def _print_line(line: str) -> None:
    print(line, flush=True)
