"""Celery side of inbound webhooks (public schema): process a stored delivery, sweep lost ones.

The sweeper runs every 30 s from celery beat; its ``PeriodicTask`` row is written by
``ingest.webhook_periodic_tasks_ensure``, which ``bizmitra.periodic`` runs after every
migration of the public schema (and ``manage.py ensure_periodic_tasks`` on demand).
"""

import logging

from celery import shared_task
from django_tenants.utils import get_public_schema_name

from bizmitra.queues import queue_busy
from bizmitra.request_id import delivery_context
from conversations.whatsapp import ingest

logger = logging.getLogger(__name__)

# Deliveries are processed in the public schema (tenant-schemas-celery reads this header).
_PUBLIC_SCHEMA = get_public_schema_name()


@shared_task(ignore_result=True)
def webhook_process_task(delivery_id: int) -> None:
    """Process one stored webhook delivery (re-runnable: the delivery row is claimed)."""
    with delivery_context(delivery_id):  # its log lines and tasks carry the webhook's request id
        ingest.delivery_process(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def webhook_process_batch_task(delivery_ids: list[int]) -> None:
    """Process deliveries announced together by the relay or the sweeper, together (re-runnable:
    the delivery rows are claimed; ``ingest.deliveries_process``)."""
    # Other pending deliveries come along: under a burst the first free worker stores the
    # backlog together, and the tasks that announced it find it done. Always up to a batch
    # more, whatever this task's own count: a task whose own deliveries were stored by another
    # still stores what is pending, instead of only claiming nothing (issue 13 §1).
    ingest.deliveries_process(delivery_ids=delivery_ids, take_pending=BATCH_SIZE)


@shared_task(ignore_result=True)
def webhook_sweep_task() -> int:
    """Re-enqueue deliveries whose Celery message was lost and failed ones due for a retry.

    Pending ones not while the ingest queue holds work: behind a backlog they are merely
    waiting (the queued tasks take pending deliveries along), and re-enqueueing all of them
    every sweep put ~12,000 tasks behind the chaos bench's status webhooks, each one a claim
    that found nothing (issue 13 §1). Failed ones always: nothing else retries them.
    """
    ids = ingest.deliveries_due(pending=not queue_busy("ingest"))
    if ids:
        # In batches, as the relay does: after a broker loss the backlog is worked together,
        # not one task (and one claim, one status lock) per delivery.
        deliveries_enqueue(ids)
        logger.info("re-enqueued %d webhook deliveries", len(ids))
    return len(ids)


BATCH_SIZE = 25
"""Deliveries per ``webhook_process_batch_task``: the statuses of 25 one-status webhooks cost
about as many statements as one (``statuses_apply``), and a batch stays short enough that
the engine hears of its messages quickly."""


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Publish ``webhook_process_batch_task``s for stored deliveries, ``BATCH_SIZE`` a task.

    Raises when the broker is unreachable; the rows are stored and the sweeper comes back.
    """
    for start in range(0, len(delivery_ids), BATCH_SIZE):
        chunk = delivery_ids[start : start + BATCH_SIZE]
        webhook_process_batch_task.apply_async((chunk,), headers={"_schema_name": _PUBLIC_SCHEMA})


def delivery_enqueue(delivery_id: int) -> bool:
    """Hand a stored delivery to a worker; False when the broker is unreachable.

    Failing to enqueue is not an error for the caller: the row is stored and the sweeper
    enqueues it again. ``retry=False`` keeps a Redis outage from stalling the webhook view.
    """
    try:
        # Only what this hot path needs (the webhook view calls this per POST): no retry
        # loop, no queue declaration per publish (the worker declares its queue; the default
        # direct exchange routes by queue name), the schema header and args repr given
        # instead of derived. Together about a fifth less CPU than a bare apply_async.
        webhook_process_task.apply_async(
            (delivery_id,),
            retry=False,
            declare=[],
            headers={"_schema_name": _PUBLIC_SCHEMA},
            argsrepr=f"({delivery_id},)",
            kwargsrepr="{}",
        )
    except Exception:  # broker down: the sweeper picks the pending row up later
        logger.warning("could not enqueue webhook delivery %s; the sweeper will", delivery_id, exc_info=True)
        return False
    return True
