"""The webhook relay: turns PostgreSQL NOTIFYs of stored deliveries into Celery tasks.

Why not publish the task from the webhook view: a Celery publish costs about 0.4 ms of
CPU (kombu), more than the rest of the request, and Meta's bursts need the view lean
(one INSERT). The INSERT announces its row with ``pg_notify`` in the same statement;
this relay, a thread inside every Celery worker, LISTENs and publishes the tasks —
batched, so a burst of a thousand webhooks costs a handful of publishes.

Exactly one relay is active at a time: it holds a PostgreSQL advisory lock, and the
others wait as standbys, taking over when the leader's session ends. NOTIFY is not
durable (a notification sent while no relay listens is gone), so a new leader first
enqueues every pending delivery, and the sweeper (every 30 s) backs both up.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from celery import bootsteps
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

# Any constant shared by all relays of this database; the value itself means nothing.
RELAY_LOCK_KEY = 0x62_7A_6D_72  # "bzmr"
BATCH_MAX = 500
BATCH_WINDOW_SECONDS = 0.002
STANDBY_RETRY_SECONDS = 5.0


def _conninfo() -> dict:
    db = connections["default"].settings_dict
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "connect_timeout": 5,
        "autocommit": True,
        "application_name": "bizmitra-webhook-relay",
    }
    return {key: value for key, value in params.items() if value is not None}


def _publish(delivery_ids: list[int]) -> None:
    from conversations.whatsapp.tasks import deliveries_enqueue

    deliveries_enqueue(delivery_ids)


class WebhookRelay:
    """LISTEN loop with leader election; run it in a thread with ``run()``; ``stop()`` ends it."""

    def __init__(self, *, lock_key: int = RELAY_LOCK_KEY) -> None:
        self._stop = threading.Event()
        self.lock_key = lock_key
        self.is_leader = False

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self._serve()
            except Exception:  # database restart, failover: reconnect and compete again
                logger.warning("webhook relay lost its database session; reconnecting", exc_info=True)
            self.is_leader = False
            self._stop.wait(1.0)

    def _serve(self) -> None:
        from conversations.whatsapp.ingest import DELIVERY_CHANNEL

        with psycopg.connect(**_conninfo()) as conn:
            while not self._stop.is_set():
                if conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_key,)).fetchone()[0]:
                    break
                self._stop.wait(STANDBY_RETRY_SECONDS)
            else:
                return
            self.is_leader = True
            conn.execute(f"LISTEN {DELIVERY_CHANNEL}")
            logger.info("webhook relay is the leader; listening on %s", DELIVERY_CHANNEL)
            self._catch_up(conn)
            while not self._stop.is_set():
                first = list(conn.notifies(timeout=1.0, stop_after=1))
                if not first:
                    continue
                # Gather whatever else arrives within a couple of milliseconds: under load this
                # turns one publish per webhook into one per batch, at no cost when idle.
                rest = list(conn.notifies(timeout=BATCH_WINDOW_SECONDS, stop_after=BATCH_MAX))
                _publish([int(n.payload) for n in first + rest])

    def _catch_up(self, conn: psycopg.Connection) -> None:
        """Enqueue deliveries announced while no relay was listening."""
        rows = conn.execute(
            "SELECT id FROM public.whatsapp_webhookdelivery WHERE state = 'pending' ORDER BY id LIMIT 10000"
        ).fetchall()
        if rows:
            logger.info("webhook relay catching up on %d pending deliveries", len(rows))
            _publish([row[0] for row in rows])


class WebhookRelayStep(bootsteps.StartStopStep):
    """Celery worker bootstep: runs a ``WebhookRelay`` thread beside the worker's pool."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.relay: WebhookRelay | None = None
        self.thread: threading.Thread | None = None

    def start(self, worker) -> None:
        if not getattr(settings, "WHATSAPP_WEBHOOK_RELAY", True):
            return
        self.relay = WebhookRelay()
        self.thread = threading.Thread(target=self.relay.run, name="webhook-relay", daemon=True)
        self.thread.start()

    def stop(self, worker) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.thread is not None:
            self.thread.join(timeout=3)


def wait_until_leader(relay: WebhookRelay, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if relay.is_leader:
            return True
        time.sleep(0.05)
    return False
