"""The Celery broker's transport: kombu's Redis transport, surviving a Redis restart.

Found by the chaos bench (issue 13 §1): when Redis restarts under load, Celery 5.7's consumer
collects the broken connection (``Connection.collect``: the transport lets go of its
``client``), then closes it. Collecting could not close the default channel (Redis was gone
mid-``BRPOP``), so closing it again tries to put its delivered, unacknowledged messages back
on the queue through a client that no longer exists: ``AttributeError: 'NoneType' object has
no attribute 'hostname'`` in ``_connparams``. That is not a connection error, so Celery calls
it an "Unrecoverable error" and shuts the worker down, and the shutdown then hangs on a pool
child blocked writing its result: the process stays up and answers nothing until something
kills it.

Nothing can be put back through a released connection (and with Redis just restarted there is
nothing to put back to): this channel skips that step when its transport has no client. The
messages it held stay in Redis's unacked set, which the next consumer restores after the
visibility timeout, and the database's sweeps re-run the work they stood for before that
(``conversations/services/sweeps.py``, the engine's owed-work sweep).
"""

from __future__ import annotations

import logging

from kombu.transport import redis

logger = logging.getLogger(__name__)


class Channel(redis.Channel):
    def close(self) -> None:
        if not self.closed and self.connection is not None and self.connection.client is None and self._qos:
            logger.warning(
                "broker connection released before its channel closed; %d unacknowledged task(s) "
                "left to the visibility timeout and the database sweeps",
                len(self._qos._delivered),
            )
            self._qos._on_collect.cancel()  # its at-exit restore would fail the same way
            self._qos = None
        super().close()


class Transport(redis.Transport):
    Channel = Channel
