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
    """Push an event to every open dashboard of a tenant (best effort)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(live_group_name(schema_name), {"type": "live.event", "event": event})
    except Exception:  # the dashboard is a viewer; a Redis blip must not fail a write
        logger.warning("live broadcast failed for %s", schema_name, exc_info=True)
