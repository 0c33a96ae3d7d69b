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
    event loop thread per process, which sends them in order, coalesced (``_LiveLoop``).
    """
    from channels.layers import get_channel_layer

    if get_channel_layer() is None:
        return
    _live_loop().submit(live_group_name(schema_name), event)


LIVE_EVENTS_TYPE = "live.events"
"""The channel-layer message type of a coalesced run of events (``{"events": [...]}``):
``LiveInboxConsumer.live_events`` forwards each one."""

# Events per channel-layer message: a burst of statuses goes out in a few messages, small
# enough that one stuck dashboard does not hold a large one.
LIVE_BATCH_MAX = 100


class _LiveLoop:
    """An asyncio loop in a daemon thread that sends a process's live events in order.

    Under a burst every stored status and message is an event, and one ``group_send`` per
    event (two Redis round trips, a coroutine handed across threads) was 10–13 % of the
    replies worker in the chaos bench (issue 13 §1), the same whether a dashboard listened or
    not. Events that pile up while a send is in flight go out together, one message per
    tenant group, in the order they were published: a quiet moment still sends each event
    at once, a burst sends a few messages instead of thousands (which also stays within
    channels_redis's per-channel capacity, where thousands were dropped).
    """

    def __init__(self) -> None:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        self.lock = threading.Lock()
        self.pending: list[tuple[str, dict]] = []
        self.flushing = False  # a flush is scheduled or running; it takes what is pending
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-broadcast", daemon=True)
        self.thread.start()

    def submit(self, group: str, event: dict) -> None:
        with self.lock:
            self.pending.append((group, event))
            if self.flushing:
                return
            self.flushing = True
        self.loop.call_soon_threadsafe(self._start_flush)

    def _start_flush(self) -> None:
        task = self.loop.create_task(self._flush())
        task.add_done_callback(_log_failure)

    async def _flush(self) -> None:
        try:
            while await self._send_pending():
                pass
        except BaseException:
            # Stopped by an error: the next submit schedules a new flush. Only then: after a
            # normal end a submit may already have scheduled the next one, and clearing the
            # flag again would let a third run beside it, out of order.
            with self.lock:
                self.flushing = False
            raise

    async def _send_pending(self) -> bool:
        """Send what is pending; False when nothing was (the flush then ends, under the lock
        that ``submit`` takes, so no event is left behind)."""
        from channels.layers import get_channel_layer

        with self.lock:
            taken, self.pending = self.pending, []
            if not taken:
                self.flushing = False
                return False
        by_group: dict[str, list[dict]] = {}
        for group, event in taken:
            by_group.setdefault(group, []).append(event)
        layer = get_channel_layer()
        for group, events in by_group.items():
            for start in range(0, len(events), LIVE_BATCH_MAX):
                await _group_send(layer, group, events[start : start + LIVE_BATCH_MAX])
        return True


async def _group_send(layer, group: str, events: list[dict]) -> None:
    try:
        await layer.group_send(group, {"type": LIVE_EVENTS_TYPE, "events": events})
    except Exception as exc:  # noqa: BLE001 - the dashboard is a viewer; a Redis blip must not fail a write
        if len(events) == 1:
            logger.warning("live broadcast failed: %s", exc)
            return
        # One event the layer cannot carry must not take its neighbours with it.
        for event in events:
            await _group_send(layer, group, [event])


def _log_failure(future) -> None:
    exc = future.exception()
    if exc is not None:
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
