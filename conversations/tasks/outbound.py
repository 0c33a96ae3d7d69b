"""Outbound tasks: the send queue, mark-as-read and the reconcile sweep.

Tasks take ids and are safe to run twice: the service claims the row before acting. The
retry policy lives in ``services.outbound_delivery`` (it needs the row's attempt count); a task only
re-enqueues itself when the service asks, with a countdown capped far below the broker's
visibility timeout (shared/celery-notes.md §1).
"""

from dataclasses import asdict

from celery import shared_task
from django.db import connection

from bizmitra import metrics
from bizmitra.graph_api.client import GraphError
from bizmitra.periodic import tenants_fan_out
from conversations.services.outbound_delivery import (
    message_deliver,
    message_mark_read_deliver,
    messages_reconcile,
    retry_delay,
)
from conversations.services.sweeps import pending_statuses_expire

__all__ = [
    "message_mark_read_task",
    "message_send_task",
    "outbound_reconcile_task",
    "outbound_reconcile_tenant_task",
    "pending_statuses_expire_task",
    "pending_statuses_expire_tenant_task",
]

MARK_READ_MAX_RETRIES = 5


@shared_task
def message_send_task(*, message_id: int) -> str:
    """One send attempt of an outbound message (runs in the message's tenant schema)."""
    outcome = message_deliver(message_id=message_id)
    metrics.SENDS.labels(outcome=outcome.result).inc()
    if outcome.retry_in is not None:
        message_send_task.apply_async(kwargs={"message_id": message_id}, countdown=max(outcome.retry_in, 0.0))
    return outcome.result


@shared_task(bind=True, max_retries=MARK_READ_MAX_RETRIES)
def message_mark_read_task(self, *, message_id: int) -> bool:
    """Mark an inbound message read on WhatsApp; retries transient Graph errors."""
    try:
        return message_mark_read_deliver(message_id=message_id)
    except GraphError as exc:
        if not exc.retryable:
            raise
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries + 1)) from exc


@shared_task
def outbound_reconcile_task() -> int:
    """Beat entry point (public schema): fan the reconcile sweep out to every active tenant."""
    return tenants_fan_out(outbound_reconcile_tenant_task)


@shared_task
def outbound_reconcile_tenant_task() -> dict:
    """Settle one tenant's stuck or orphaned outbound messages (see ``messages_reconcile``)."""
    return {"schema": connection.schema_name, **asdict(messages_reconcile())}


@shared_task(ignore_result=True)
def pending_statuses_expire_task() -> int:
    """Beat entry point (public schema): expire parked statuses in every active tenant."""
    return tenants_fan_out(pending_statuses_expire_tenant_task)


@shared_task
def pending_statuses_expire_tenant_task() -> dict:
    """Drop one tenant's statuses parked past Meta's 7-day retry horizon (``services.sweeps``)."""
    return {"schema": connection.schema_name, "expired": pending_statuses_expire()}
