"""The ``/_sandbox/`` control API and the ``python -m`` entry point."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bizmitra.graph_api.client import GraphApiError, GraphClient
from conversations.whatsapp.sandbox import GraphSandbox, serve_forever

from .support import CUSTOMER, PNID, VERIFY_TOKEN, WebhookReceiver, signature_valid, text_payload

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_health_and_messages_since(client: GraphClient, sandbox: GraphSandbox) -> None:
    control = httpx.Client(base_url=f"{sandbox.base_url}/_sandbox")
    assert control.get("/health").json()["ok"] is True

    wamids = [client.send_message(PNID, text_payload(str(i))).wamid for i in range(3)]

    page = control.get("/messages", params={"since": 1}).json()
    assert [m["wamid"] for m in page["messages"]] == wamids[1:]
    assert page["next"] == 3
    assert control.get("/messages", params={"since": 3}).json()["messages"] == []


def test_fail_over_http(client: GraphClient, sandbox: GraphSandbox) -> None:
    answer = httpx.post(f"{sandbox.base_url}/_sandbox/fail", json={"code": 131056, "count": 1})
    assert answer.status_code == 200
    with pytest.raises(GraphApiError) as caught:
        client.send_message(PNID, text_payload())
    assert caught.value.code == 131056 and caught.value.retryable


def test_inject_over_http(sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    base = f"{sandbox.base_url}/_sandbox"
    text = httpx.post(f"{base}/inject", json={"kind": "text", "phone_number_id": PNID, "from": CUSTOMER, "text": "hi"})
    button = httpx.post(
        f"{base}/inject",
        json={"kind": "button_reply", "phone_number_id": PNID, "from": CUSTOMER, "payload_id": "yes", "title": "Yes"},
    )
    media = httpx.post(
        f"{base}/inject",
        json={
            "kind": "media",
            "phone_number_id": PNID,
            "from": CUSTOMER,
            "media_type": "image",
            "media_id": "31337",
            "mime_type": "image/jpeg",
            "data_base64": base64.b64encode(b"jpeg").decode(),
        },
    )

    assert [a.json()["status"] for a in (text, button, media)] == [200, 200, 200]
    assert text.json()["wamid"].startswith("wamid.")
    assert len(receiver.received()) == 3 and all(signature_valid(r) for r in receiver.received())
    assert httpx.post(f"{base}/inject", json={"kind": "nope"}).status_code == 400


def test_config_numbers_templates_and_reset(client: GraphClient, sandbox: GraphSandbox) -> None:
    base = f"{sandbox.base_url}/_sandbox"
    httpx.post(f"{base}/config", json={"webhook_url": None, "auto_statuses": []}).raise_for_status()
    httpx.post(f"{base}/templates", json={"waba_id": "W", "name": "welcome"}).raise_for_status()
    assert [t["name"] for t in client.list_message_templates("W")] == ["welcome"]

    client.send_message(PNID, text_payload())
    httpx.post(f"{base}/reset").raise_for_status()
    assert httpx.get(f"{base}/health").json()["sent"] == 0
    assert httpx.post(f"{base}/wait", json={"timeout": 1}).json() == {"idle": True}

    httpx.post(f"{base}/numbers", json={"phone_number_id": PNID, "token": "only-this"}).raise_for_status()
    with pytest.raises(GraphApiError) as caught:
        client.send_message(PNID, text_payload())
    assert caught.value.code == 190


def test_verify_webhook_like_meta(sandbox: GraphSandbox) -> None:
    assert sandbox.verify_webhook(VERIFY_TOKEN)
    assert not sandbox.verify_webhook("wrong-token")
    answer = httpx.post(
        f"{sandbox.base_url}/_sandbox/verify", json={"verify_token": VERIFY_TOKEN, "challenge": "1158201444"}
    )
    assert answer.json() == {"verified": True}


def test_serve_forever_stops_on_event() -> None:
    stop = threading.Event()
    lines: list[str] = []
    thread = threading.Thread(target=serve_forever, kwargs={"port": 0, "stop_event": stop, "announce": lines.append})
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not lines and time.monotonic() < deadline:
            time.sleep(0.01)
        url = lines[0].split()[5]
        assert httpx.get(f"{url}/_sandbox/health", timeout=2).json()["ok"] is True
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_python_dash_m_entry_point_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "conversations.whatsapp.sandbox", "--port", "0", "--app-secret", "s"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.split()[5]
        assert httpx.get(f"{url}/_sandbox/health", timeout=5).json()["ok"] is True
    finally:
        process.terminate()
        process.wait(timeout=10)
