"""The ASGI side under a real daphne: tenant websockets and plain HTTP."""

import asyncio
import json

import httpx
import pytest
import websockets
from django.test import Client

from bizmitra.channels_tenancy import CLOSE_UNAUTHENTICATED, CLOSE_UNKNOWN_TENANT
from bizmitra.events import broadcast_live
from tests.support import PYTHON, free_port, start_process, stop_process, subprocess_env, wait_for_port
from tests.tenancy import PASSWORDS


@pytest.fixture
def daphne_server(live_db):
    port = free_port()
    proc = start_process(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bizmitra.asgi:application"],
        log_name="daphne",
        env=subprocess_env(),
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _session_cookie(onboarding) -> str:
    client = Client(HTTP_HOST=onboarding.domain.domain)
    response = client.post(
        "/login/", {"username": onboarding.owner_email, "password": PASSWORDS[onboarding.owner_email]}
    )
    assert response.status_code == 302
    return client.cookies["sessionid"].value


async def _open(address: str, host: str, cookie: str | None = None):
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    ip, port = address.split(":")
    # The URI names the tenant's host (the Host header); the socket goes to loopback.
    return await websockets.connect(
        f"ws://{host}:{port}/ws/inbox/", host=ip, port=int(port), additional_headers=headers, open_timeout=10
    )


def test_websocket_resolves_tenant_from_host_and_runs_queries_there(daphne_server, alpha, beta):
    alpha_cookie = _session_cookie(alpha)

    async def scenario():
        async with await _open(daphne_server, "alpha.test", alpha_cookie) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["event"] == "hello" and hello["tenant"] == "alpha"
            # Events of Alpha reach Alpha's dashboards...
            await asyncio.to_thread(broadcast_live, schema_name="alpha", event={"event": "ping", "n": 1})
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"event": "ping", "n": 1}
            # ...and Beta's do not.
            await asyncio.to_thread(broadcast_live, schema_name="beta", event={"event": "leak"})
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)

    asyncio.run(scenario())


def test_unknown_host_is_closed_with_a_clear_code(daphne_server):
    async def scenario():
        ws = await _open(daphne_server, "nobody.test")
        with pytest.raises(websockets.ConnectionClosed) as excinfo:
            await asyncio.wait_for(ws.recv(), 10)
        return excinfo.value.rcvd.code if excinfo.value.rcvd else None

    code = asyncio.run(scenario())
    assert code == CLOSE_UNKNOWN_TENANT


def test_anonymous_or_foreign_session_is_refused(daphne_server, alpha, beta):
    alpha_cookie = _session_cookie(alpha)

    async def close_code(host, cookie):
        ws = await _open(daphne_server, host, cookie)
        with pytest.raises(websockets.ConnectionClosed) as excinfo:
            await asyncio.wait_for(ws.recv(), 10)
        return excinfo.value.rcvd.code if excinfo.value.rcvd else None

    assert asyncio.run(close_code("alpha.test", None)) == CLOSE_UNAUTHENTICATED
    # Alpha's session cookie means nothing on Beta's host.
    assert asyncio.run(close_code("beta.test", alpha_cookie)) == CLOSE_UNAUTHENTICATED


def test_asgi_app_answers_plain_http(daphne_server, alpha):
    health = httpx.get(f"http://{daphne_server}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    me = httpx.get(
        f"http://{daphne_server}/api/me/",
        headers={"Host": "alpha.test", "Authorization": f"Bearer {alpha.api_key.raw_key}"},
        timeout=10,
    )
    assert me.status_code == 200 and me.json()["tenant"]["schema"] == "alpha"
