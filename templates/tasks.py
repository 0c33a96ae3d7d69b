"""Celery tasks of the templates app."""

from celery import shared_task

from templates.services.sync_jobs import template_sync_run

__all__ = ["template_sync_task"]


@shared_task(ignore_result=True)
def template_sync_task(job_id: str) -> None:
    """Sync the tenant's Meta templates for one ``TemplateSyncJob`` (runs in the job's schema).

    No automatic retry: a failed sync shows WhatsApp's reason and the owner syncs again.
    """
    template_sync_run(job_id=job_id)
