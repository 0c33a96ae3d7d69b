"""Celery tasks of the AI assistant (imported by ``conversations.tasks`` for autodiscovery)."""

from celery import shared_task

from conversations.ai.knowledge import knowledge_fetch_run

__all__ = ["knowledge_fetch_task"]


@shared_task(ignore_result=True)
def knowledge_fetch_task(job_id: str) -> None:
    """Fetch a website into the tenant's AI knowledge (runs in the job's tenant schema).

    No automatic retry: a failed fetch is shown on the job and staff start a new one.
    """
    knowledge_fetch_run(job_id=job_id)
