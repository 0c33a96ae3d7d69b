"""Celery tasks of the conversation engine (re-exported by ``conversations.tasks``).

The message tasks run in the message's tenant schema (tenant-schemas-celery header set by
the listener) on the engine queue. The periodic ones run in the public schema from celery
beat and fan out one task per tenant.
"""

import logging

from celery import shared_task
from django.db import connection

from bizmitra.periodic import tenants_fan_out
from conversations.engine.bots import bot_schedules_apply
from conversations.engine.handoff import handoffs_auto_return
from conversations.engine.services import engine_handle_messages, engine_owed_sweep

__all__ = [
    "bot_schedules_apply_task",
    "bot_schedules_apply_tenant_task",
    "engine_handle_messages_task",
    "engine_owed_sweep_task",
    "engine_owed_sweep_tenant_task",
    "handoff_auto_return_task",
    "handoff_auto_return_tenant_task",
]

logger = logging.getLogger(__name__)

ENGINE_MAX_RETRIES = 3


@shared_task(bind=True, max_retries=ENGINE_MAX_RETRIES, ignore_result=True)
def engine_handle_messages_task(self, *, message_ids: list[int]) -> None:
    """Answer the inbound messages of one webhook part, in order (re-runnable: each message's
    decision row is its claim). A failure retries the whole list; decided ones return at once."""
    try:
        engine_handle_messages(message_ids=message_ids)
    except Exception as exc:
        if self.request.retries >= ENGINE_MAX_RETRIES:
            # Not lost: the owed-work sweep finds the undecided messages in the database.
            logger.exception("engine gave up on messages %s in %s", message_ids, connection.schema_name)
            raise
        logger.warning("engine failed on messages %s: %s; retrying", message_ids, exc)
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task(ignore_result=True)
def engine_owed_sweep_task() -> int:
    """Beat entry point (public schema): find messages still owed an answer in every tenant."""
    return tenants_fan_out(engine_owed_sweep_tenant_task)


@shared_task(ignore_result=True)
def engine_owed_sweep_tenant_task() -> int:
    return engine_owed_sweep()


@shared_task(ignore_result=True)
def bot_schedules_apply_task() -> int:
    """Beat entry point (public schema): apply due bot schedules in every tenant."""
    return tenants_fan_out(bot_schedules_apply_tenant_task)


@shared_task(ignore_result=True)
def bot_schedules_apply_tenant_task() -> int:
    return bot_schedules_apply()


@shared_task(ignore_result=True)
def handoff_auto_return_task() -> int:
    """Beat entry point (public schema): give idle handed-off conversations back to their bots."""
    return tenants_fan_out(handoff_auto_return_tenant_task)


@shared_task(ignore_result=True)
def handoff_auto_return_tenant_task() -> int:
    return handoffs_auto_return()
