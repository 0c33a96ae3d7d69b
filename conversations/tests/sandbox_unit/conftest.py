"""Fixtures for the Graph sandbox and client tests: plain pytest, loopback HTTP only.

Run with ``pytest -p no:django conversations/tests/sandbox_unit``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bizmitra.graph_api.client import GraphClient, close_pools
from conversations.whatsapp.sandbox import GraphSandbox

from .support import APP_SECRET, TOKEN, WebhookReceiver


@pytest.fixture(scope="session", autouse=True)
def _close_graph_pools() -> Iterator[None]:
    yield
    close_pools()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def sandbox(receiver: WebhookReceiver) -> Iterator[GraphSandbox]:
    with GraphSandbox(
        webhook_url=receiver.url,
        app_secret=APP_SECRET,
        status_delay=0.01,
        webhook_retry_delays=(0.02, 0.05),
    ) as sandbox:
        yield sandbox


@pytest.fixture
def client(sandbox: GraphSandbox) -> GraphClient:
    return GraphClient(base_url=sandbox.base_url, api_version="v25.0", access_token=TOKEN, timeout=2.0)
