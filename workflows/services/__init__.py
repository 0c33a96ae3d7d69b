"""Writes of the workflows app, one module per subdomain:
rules (validation, rendering), triggers (firing), jobs (execution), callbacks,
email, scheduling (hand-off to Celery) and dispatch (the beat task, restart recovery)."""

from workflows.services.callbacks import callback_secret_get, callback_signature, workflow_callback_deliver
from workflows.services.dispatch import workflow_dispatch_all, workflow_jobs_dispatch, workflow_periodic_tasks_ensure
from workflows.services.jobs import workflow_job_execute, workflow_job_retry, workflow_jobs_cancel
from workflows.services.triggers import TriggerResult, workflow_trigger_fire

__all__ = [
    "TriggerResult",
    "callback_secret_get",
    "callback_signature",
    "workflow_callback_deliver",
    "workflow_dispatch_all",
    "workflow_job_execute",
    "workflow_job_retry",
    "workflow_jobs_cancel",
    "workflow_jobs_dispatch",
    "workflow_periodic_tasks_ensure",
    "workflow_trigger_fire",
]
