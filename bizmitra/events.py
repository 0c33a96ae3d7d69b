"""A small domain-event dispatcher.

Services publish what happened (``message.received``, ``message.status``,
``lead.qualified``); listeners registered with ``@listens_to`` react (push to
websockets, start workflows, run the engine). Listeners run after the current
transaction commits, so nothing reacts to a write that is then rolled back.
"""

import logging
from collections import defaultdict
from collections.abc import Callable

from django.db import connection, transaction

logger = logging.getLogger(__name__)

_listeners: dict[str, list[Callable[..., None]]] = defaultdict(list)


def listens_to(*event_names: str):
    def register(func: Callable[..., None]):
        for name in event_names:
            if func not in _listeners[name]:
                _listeners[name].append(func)
        return func

    return register


def publish(event_name: str, **payload) -> None:
    """Call each listener with ``schema_name`` and ``payload`` once the transaction commits."""
    schema_name = connection.schema_name

    def dispatch() -> None:
        for listener in list(_listeners.get(event_name, ())):
            try:
                listener(event_name=event_name, schema_name=schema_name, **payload)
            except Exception:  # one broken listener must not stop the others
                logger.exception("listener %s failed for %s", getattr(listener, "__name__", listener), event_name)

    transaction.on_commit(dispatch)


def live_group_name(schema_name: str) -> str:
    """The Channels group a tenant's dashboards listen on."""
    return f"inbox.{schema_name}"


def broadcast_live(*, schema_name: str, event: dict) -> None:
    """Push an event to every open dashboard of a tenant (best effort, never blocks the caller).

    The channel layer is asynchronous; ``async_to_sync`` per event costs about 10 ms (a new
    event loop each time), more than the engine's whole decision. Events go instead to one
    event loop thread per process, in order, without waiting for Redis.
    """
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "live.event", "event": event}
    _live_loop().submit(layer.group_send(live_group_name(schema_name), message))


# Broadcasts in flight at once per process. A stored webhook part publishes one event per
# message; unbounded, a burst of 100 opened more Redis connections than channels_redis's
# pool allows ("Too many connections") and the dashboards missed those events.
LIVE_CONCURRENCY = 4


class _LiveLoop:
    """An asyncio loop in a daemon thread that runs broadcasts, a few at a time, in order of
    submission."""

    def __init__(self) -> None:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        self.slots = asyncio.Semaphore(LIVE_CONCURRENCY)  # bound to self.loop on first use
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-broadcast", daemon=True)
        self.thread.start()

    def submit(self, coroutine) -> None:
        import asyncio

        future = asyncio.run_coroutine_threadsafe(self._bounded(coroutine), self.loop)
        future.add_done_callback(_log_failure)

    async def _bounded(self, coroutine) -> None:
        async with self.slots:
            await coroutine


def _log_failure(future) -> None:
    exc = future.exception()
    if exc is not None:  # the dashboard is a viewer; a Redis blip must not fail a write
        logger.warning("live broadcast failed: %s", exc)


_loops: dict[int, _LiveLoop] = {}


def _live_loop() -> _LiveLoop:
    import os

    # Per process: a Celery prefork child inherits the parent's object but not its thread.
    pid = os.getpid()
    loop = _loops.get(pid)
    if loop is None:
        loop = _loops[pid] = _LiveLoop()
    return loop
