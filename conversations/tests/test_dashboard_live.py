"""The inbox websocket under a real daphne: role filtering and the catch-up timestamp."""

import asyncio
import concurrent.futures
import json
import uuid

import pytest
import websockets
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from bizmitra.events import broadcast_live
from conversations.models import Contact, Conversation
from tenants.services import owner_create
from tests.support import PYTHON, free_port, start_process, stop_process, subprocess_env, wait_for_port
from tests.tenancy import ALPHA


@pytest.fixture
def daphne_server(live_db):
    port = free_port()
    proc = start_process(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bizmitra.asgi:application"],
        log_name="dashboard-daphne",
        env=subprocess_env(),
    )
    try:
        wait_for_port(port, timeout=30)
        yield port
    finally:
        stop_process(proc)


def _conversation(agent=None) -> int:
    contact = Contact.objects.create(wa_id="1779" + str(uuid.uuid4().int)[:9], last_inbound_at=timezone.now())
    return Conversation.objects.create(
        contact=contact, phone_number_id=ALPHA["phone_number_id"], assigned_agent=agent
    ).pk


def test_agents_only_hear_about_conversations_they_may_open(daphne_server, alpha):
    email = f"agent-{uuid.uuid4().hex[:6]}@alpha.test"
    with schema_context("alpha"):
        agent = owner_create(email=email, password="agent-password", is_owner=False)
        boss = get_user_model().objects.get(email=ALPHA["owner_email"])
        theirs, unassigned, mine = _conversation(boss), _conversation(), _conversation(agent)
    client = Client(HTTP_HOST="alpha.test")
    assert client.post("/login/", {"username": email, "password": "agent-password"}).status_code == 302
    cookie = client.cookies["sessionid"].value

    async def scenario():
        async with websockets.connect(
            f"ws://alpha.test:{daphne_server}/ws/inbox/",
            host="127.0.0.1",
            port=daphne_server,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            open_timeout=10,
        ) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["event"] == "hello" and isinstance(hello["now"], float)
            # Theirs first, then the visible ones, then a trail of visible ones: each event is
            # checked in its own database call, so arrival order is not guaranteed, but by the
            # time the whole trail is in, an event for "theirs" would have been too.
            for conversation_id in (theirs, unassigned, mine, *[mine] * 5):
                await asyncio.to_thread(
                    broadcast_live,
                    schema_name="alpha",
                    event={"event": "message.received", "conversation_id": conversation_id, "message_id": 1},
                )
            return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(7)]

    # In a thread of its own: a browser test earlier in the run may hold this thread's loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        got = pool.submit(asyncio.run, scenario()).result()
    ids = [e["conversation_id"] for e in got]
    assert theirs not in ids
    assert sorted(ids) == sorted([unassigned, *[mine] * 6])
    assert all(e["at"] > 0 for e in got)
