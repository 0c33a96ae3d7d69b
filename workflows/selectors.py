"""Reads of the workflows app (call inside the tenant's schema)."""

import uuid

from django.db.models import QuerySet

from workflows.models import CommunicationWorkflow, WorkflowJob


def workflow_list() -> QuerySet[CommunicationWorkflow]:
    return CommunicationWorkflow.objects.all()


def job_get(*, job_id) -> WorkflowJob | None:
    """The job with this id, or None (also for ids that are not UUIDs)."""
    try:
        job_uuid = uuid.UUID(str(job_id))
    except ValueError:
        return None
    return WorkflowJob.objects.select_related("workflow").filter(pk=job_uuid).first()


def job_message_status(*, job: WorkflowJob) -> str | None:
    """Current status of the WhatsApp message this job queued, if any."""
    if job.message_id is None:
        return None
    from conversations.models import Message

    return Message.objects.filter(pk=job.message_id).values_list("status", flat=True).first()
