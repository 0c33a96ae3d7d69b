"""Documents tasks: reading a document runs on the documents queue, never in front of replies."""

import logging

from celery import shared_task
from django.db import connection

from bizmitra.periodic import tenants_fan_out
from documents.recovery import documents_owed_requeue
from documents.services import document_process

logger = logging.getLogger(__name__)


@shared_task(name="documents.document_process", ignore_result=True, acks_late=True)
def document_process_task(document_id: int) -> None:
    """OCR and extraction of one document (in its tenant's schema, from the task headers).

    Re-runnable: only a ``queued`` document is claimed, so a redelivery after a worker died
    mid-way does nothing (the document stays ``processing``; "reprocess" queues it again).
    """
    document_process(document_id=document_id)


@shared_task(name="documents.documents_owed_sweep", ignore_result=True)
def documents_owed_sweep_task() -> int:
    """Beat entry point (public schema): fan the documents sweep out to every active tenant."""
    return tenants_fan_out(documents_owed_sweep_tenant_task)


@shared_task(name="documents.documents_owed_sweep_tenant")
def documents_owed_sweep_tenant_task() -> dict:
    """Queue again one tenant's document readings whose task or worker was lost (``recovery``)."""
    return {"schema": connection.schema_name, "queued": documents_owed_requeue()}
