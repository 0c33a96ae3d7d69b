"""Celery tasks of the leads app: thin wrappers that take ids and call one service.

Per-tenant tasks must be sent inside the tenant's schema (tenant-schemas-celery
carries it to the worker); sent from public they fail on the tenant tables.
"""

import logging

from celery import shared_task

from bizmitra.periodic import tenants_fan_out
from leads import services

logger = logging.getLogger(__name__)


@shared_task
def lead_sla_check_task() -> int:
    return services.lead_sla_check()


@shared_task
def lead_follow_ups_due_task() -> int:
    due = services.lead_follow_ups_due()
    for lead_id in due:
        lead_follow_up_send_task.delay(lead_id=lead_id)
    return len(due)


@shared_task
def lead_follow_up_send_task(*, lead_id: int) -> str:
    return services.lead_follow_up_send(lead_id=lead_id)


@shared_task
def appointment_calendar_sync_task(*, appointment_id: int) -> str:
    return services.appointment_calendar_sync(appointment_id=appointment_id)


@shared_task
def appointment_calendar_sync_due_task() -> int:
    due = services.appointments_calendar_sync_due()
    for appointment_id in due:
        appointment_calendar_sync_task.delay(appointment_id=appointment_id)
    return len(due)


@shared_task
def analytics_roll_up_task() -> int:
    from leads.analytics.services import analytics_roll_up_due

    return analytics_roll_up_due()


PER_TENANT_JOBS = {
    "sla": lead_sla_check_task,
    "follow_ups": lead_follow_ups_due_task,
    "calendar_sync": appointment_calendar_sync_due_task,
    "analytics_roll_up": analytics_roll_up_task,
}


@shared_task
def leads_fanout_task(*, job: str) -> int:
    """Run from beat in the public schema: queue ``job`` once in every active tenant's schema."""
    task = PER_TENANT_JOBS.get(job)
    if task is None:
        logger.error("unknown leads job %r", job)
        return 0
    return tenants_fan_out(task)


@shared_task(ignore_result=True)
def lead_signals_score_task(*, message_ids: list[int]) -> int:
    """Score inbound messages for their senders' leads (tenant schema; re-runnable: a signal
    is recorded once per message and kind)."""
    from leads.services import lead_signals_from_messages

    return len(lead_signals_from_messages(message_ids=message_ids))
