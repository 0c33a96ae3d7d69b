"""Scrape-time gauges of work the database holds: dead letters and parked statuses (bizmitra.metrics).

The project's dead letters are outbound messages ``dead`` after their last send attempt
(``outbound_delivery._record_retryable``) and webhook deliveries still ``failed`` after
``ingest.MAX_ATTEMPTS`` (the sweeper stops retrying them; the admin's "reprocess" brings them
back). ``PendingStatus`` rows are statuses whose message we have not stored yet.

Messages live in each tenant's schema: one ``UNION ALL`` statement counts them in every active
tenant (the status column is indexed), with a statement timeout, and the result is kept
``METRICS_DB_CACHE_SECONDS`` per process so several scrapers cost one query.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from prometheus_client.core import GaugeMetricFamily

from bizmitra.metrics import scrape_collector
from conversations.choices import MessageStatus
from conversations.models import Message, PendingStatus
from conversations.whatsapp.ingest import MAX_ATTEMPTS
from conversations.whatsapp.models import WebhookDelivery
from tenants.models import Tenant

_lock = threading.Lock()
_cached: tuple[float, dict[str, int]] | None = None


def _counts() -> dict[str, int]:
    global _cached
    with _lock:
        if _cached is not None and time.monotonic() - _cached[0] < settings.METRICS_DB_CACHE_SECONDS:
            return _cached[1]
    quote = connection.ops.quote_name
    schemas = list(
        Tenant.objects.filter(is_active=True)
        .exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
        .values_list("schema_name", flat=True)
    )
    parts = [
        f"SELECT 'webhook_deliveries', count(*) FROM public.{quote(WebhookDelivery._meta.db_table)} "
        "WHERE state = %s AND attempts >= %s"
    ]
    params: list[object] = [WebhookDelivery.State.FAILED, MAX_ATTEMPTS]
    for schema in schemas:
        parts.append(
            f"SELECT 'messages', count(*) FROM {quote(schema)}.{quote(Message._meta.db_table)} WHERE status = %s"
        )
        parts.append(f"SELECT 'pending_statuses', count(*) FROM {quote(schema)}.{quote(PendingStatus._meta.db_table)}")
        params.append(MessageStatus.DEAD)
    counts = {"webhook_deliveries": 0, "messages": 0, "pending_statuses": 0}
    with transaction.atomic(), connection.cursor() as cursor:
        # set_config, not SET: SET takes no bound parameter (server-side binding, settings/base.py).
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)", [str(int(settings.METRICS_DB_TIMEOUT_SECONDS * 1000))]
        )
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, count in cursor.fetchall():
            counts[kind] += int(count)
    with _lock:
        _cached = (time.monotonic(), counts)
    return counts


@scrape_collector
def database_gauges():
    try:
        counts = _counts()
    except DatabaseError:  # a scrape during a database outage shows the rest
        return
    dead = GaugeMetricFamily(
        "bizmitra_dead_letters",
        "Work given up on: outbound messages dead after their last attempt, webhook deliveries failed "
        "after the last retry.",
        labels=["kind"],
    )
    dead.add_metric(["messages"], counts["messages"])
    dead.add_metric(["webhook_deliveries"], counts["webhook_deliveries"])
    yield dead
    yield GaugeMetricFamily(
        "bizmitra_pending_statuses",
        "Status webhooks parked until their message is stored (PendingStatus rows, every tenant).",
        value=counts["pending_statuses"],
    )


database_gauges.metric_names = ("bizmitra_dead_letters", "bizmitra_pending_statuses")


def database_gauges_forget() -> None:
    """Drop the cached counts (tests)."""
    global _cached
    with _lock:
        _cached = None
