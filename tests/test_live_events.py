"""Live dashboard events leave a process in order, coalesced under a burst (bizmitra/events.py)."""

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from bizmitra import events
from bizmitra.events import LIVE_BATCH_MAX, LIVE_EVENTS_TYPE, broadcast_live, live_group_name


@pytest.fixture
def listening():
    """A channel in the live groups of two tenants, as an open dashboard of each would be."""
    layer = get_channel_layer()
    channels = {schema: async_to_sync(layer.new_channel)() for schema in ("live_a", "live_b")}
    for schema, channel in channels.items():
        async_to_sync(layer.group_add)(live_group_name(schema), channel)
    yield layer, channels
    for schema, channel in channels.items():
        async_to_sync(layer.group_discard)(live_group_name(schema), channel)


def _receive(layer, channel: str, count: int) -> list[dict]:
    """The layer messages that carry ``count`` events (one loop for all receives: channels_redis
    buffers per loop)."""

    async def receive():
        messages, got = [], 0
        while got < count:
            message = await asyncio.wait_for(layer.receive(channel), timeout=10)
            messages.append(message)
            got += len(message["events"])
        return messages

    return async_to_sync(receive)()


def test_a_burst_arrives_complete_in_order_and_only_at_its_tenant(listening):
    layer, channels = listening
    for n in range(250):
        broadcast_live(schema_name="live_a", event={"event": "message.status", "n": n})
        if n % 50 == 0:
            broadcast_live(schema_name="live_b", event={"event": "message.status", "b": n})
    messages = _receive(layer, channels["live_a"], 250)
    assert {m["type"] for m in messages} == {LIVE_EVENTS_TYPE}
    assert [e["n"] for m in messages for e in m["events"]] == list(range(250))
    assert all(len(m["events"]) <= LIVE_BATCH_MAX for m in messages)
    assert [e["b"] for m in _receive(layer, channels["live_b"], 5) for e in m["events"]] == [0, 50, 100, 150, 200]


def test_events_published_while_a_send_is_in_flight_go_out_together(listening):
    layer, channels = listening
    live = events._live_loop()
    held, release = threading.Event(), threading.Event()

    def hold():  # stands in for a slow group_send: the loop thread is busy
        held.set()
        release.wait(10)

    live.loop.call_soon_threadsafe(hold)
    assert held.wait(10)
    for n in range(10):
        broadcast_live(schema_name="live_a", event={"event": "message.status", "n": n})
    release.set()
    [message] = _receive(layer, channels["live_a"], 10)
    assert [e["n"] for e in message["events"]] == list(range(10))


def test_an_event_the_layer_cannot_carry_does_not_lose_its_neighbours(listening):
    layer, channels = listening
    live = events._live_loop()
    held, release = threading.Event(), threading.Event()
    live.loop.call_soon_threadsafe(lambda: (held.set(), release.wait(10)))
    assert held.wait(10)
    broadcast_live(schema_name="live_a", event={"event": "a", "n": 1})
    broadcast_live(schema_name="live_a", event={"event": "bad", "n": {object()}})  # msgpack refuses it
    broadcast_live(schema_name="live_a", event={"event": "c", "n": 3})
    release.set()
    messages = _receive(layer, channels["live_a"], 2)
    assert [e["n"] for m in messages for e in m["events"]] == [1, 3]
