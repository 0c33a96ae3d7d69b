"""Documents tasks: reading a document runs on the documents queue, never in front of replies."""

import logging

from celery import shared_task

from documents.services import document_process

logger = logging.getLogger(__name__)


@shared_task(name="documents.document_process", ignore_result=True, acks_late=True)
def document_process_task(document_id: int) -> None:
    """OCR and extraction of one document (in its tenant's schema, from the task headers).

    Re-runnable: only a ``queued`` document is claimed, so a redelivery after a worker died
    mid-way does nothing (the document stays ``processing``; "reprocess" queues it again).
    """
    document_process(document_id=document_id)
