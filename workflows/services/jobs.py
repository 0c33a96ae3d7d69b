"""Running one workflow job: claim, send, then complete, retry or fail.

Every function here runs inside the tenant's schema. The claim is a conditional
UPDATE pending→running that also stamps a fresh ``claim_token``; the outcome is
written only ``WHERE claim_token = <ours>``, so a worker whose lease expired (and
whose job was handed to another) cannot overwrite the newer attempt.
"""

import logging
import smtplib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from bizmitra.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from bizmitra.events import publish
from workflows.choices import CallbackState, Channel, JobStatus
from workflows.conf import workflow_settings
from workflows.models import WorkflowJob
from workflows.services.email import EmailNotConfigured, email_send
from workflows.services.scheduling import (
    backoff_seconds,
    callback_enqueue_on_commit,
    jobs_enqueue_on_commit,
    within_horizon,
)

logger = logging.getLogger(__name__)

# Celery's timer may fire an ETA task a few milliseconds early; such a run still counts as due.
CLAIM_EARLY_TOLERANCE = timedelta(seconds=1)


class PermanentFailure(Exception):
    """Sending cannot succeed by trying again (bad content, closed window, no SMTP settings)."""


class _ClaimLost(Exception):
    """Our claim was superseded while we worked; roll back and let the newer attempt win."""


@dataclass(frozen=True)
class ExecutionOutcome:
    status: str
    message_id: int | None = None
    error: str = ""


def _claim(*, job_id, now: datetime) -> uuid.UUID | None:
    token = uuid.uuid4()
    claimed = WorkflowJob.objects.filter(
        pk=job_id, status=JobStatus.PENDING, next_run_at__lte=now + CLAIM_EARLY_TOLERANCE
    ).update(
        status=JobStatus.RUNNING,
        claim_token=token,
        claimed_at=now,
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), Value(now)),
    )
    return token if claimed else None


def _finish(*, job: WorkflowJob, token: uuid.UUID, status: str, message_id: int | None = None, error: str = "") -> bool:
    """Write a terminal outcome if our claim still holds; start the callback. Returns False if the claim was lost."""
    now = timezone.now()
    wants_callback = bool(job.callback_url) and status in (JobStatus.COMPLETED, JobStatus.FAILED)
    changes = {
        "status": status,
        "finished_at": now,
        "message_id": message_id,
        "claim_token": None,
        "callback_state": CallbackState.PENDING if wants_callback else CallbackState.NONE,
        "callback_next_attempt_at": now if wants_callback else None,
    }
    if error:  # a success keeps the previous attempt's error, for the record
        changes["last_error"] = error[:2000]
    updated = WorkflowJob.objects.filter(pk=job.pk, claim_token=token, status=JobStatus.RUNNING).update(**changes)
    if not updated:
        return False
    if wants_callback:
        callback_enqueue_on_commit(job.pk)
    publish("workflow.job.finished", job_id=str(job.pk), status=status, trigger=job.trigger)
    return True


def _retry_or_fail(*, job: WorkflowJob, token: uuid.UUID, error: str) -> str:
    now = timezone.now()
    if job.attempts >= job.max_attempts:
        _finish(job=job, token=token, status=JobStatus.FAILED, error=error)
        return JobStatus.FAILED
    conf = workflow_settings()
    wait = backoff_seconds(base=job.retry_base_seconds, attempt=job.attempts, cap=conf.retry_max_seconds)
    run_at = now + timedelta(seconds=wait)
    near = within_horizon(run_at, now=now)
    updated = WorkflowJob.objects.filter(pk=job.pk, claim_token=token, status=JobStatus.RUNNING).update(
        status=JobStatus.PENDING,
        next_run_at=run_at,
        claim_token=None,
        last_error=error[:2000],
        enqueued_at=now if near else None,
    )
    if updated and near:
        jobs_enqueue_on_commit([(job.pk, run_at)])
    return JobStatus.PENDING


def _whatsapp_send(job: WorkflowJob):
    """Queue the message through the outbound pipeline; returns the conversations Message."""
    from conversations.services import outbound

    conversation = None
    if job.conversation_id:
        from conversations.models import Conversation

        conversation = Conversation.objects.filter(pk=job.conversation_id).first()
    kind = job.content["type"]
    return outbound.message_send(
        to=job.recipient_phone,
        type=kind,
        content=job.content[kind],
        idempotency_key=f"wfjob:{job.pk}",
        conversation=conversation,
    )


def _existing_message_id(job: WorkflowJob) -> int | None:
    from conversations.models import Message

    return Message.objects.filter(idempotency_key=f"wfjob:{job.pk}").values_list("pk", flat=True).first()


def _run_whatsapp(job: WorkflowJob, token: uuid.UUID) -> ExecutionOutcome:
    try:
        # One transaction: the job is completed exactly when the outbound message row exists.
        with transaction.atomic():
            message = _whatsapp_send(job)
            if not _finish(job=job, token=token, status=JobStatus.COMPLETED, message_id=message.pk):
                raise _ClaimLost
        return ExecutionOutcome(JobStatus.COMPLETED, message_id=message.pk)
    except Conflict as exc:
        # Same idempotency key already used (an earlier attempt committed): that message is ours.
        message_id = getattr(exc, "message_id", None) or _existing_message_id(job)
        if message_id is None:
            raise PermanentFailure(exc.message) from exc
        _finish(job=job, token=token, status=JobStatus.COMPLETED, message_id=message_id)
        return ExecutionOutcome(JobStatus.COMPLETED, message_id=message_id)
    except ValidationFailed as exc:  # WindowClosed included: outside the 24 h window only templates go
        raise PermanentFailure(f"{exc.message} {exc.fields}" if exc.fields else exc.message) from exc


def _run_email(job: WorkflowJob, token: uuid.UUID) -> ExecutionOutcome:
    try:
        email_send(
            to=job.recipient_email,
            subject=job.content.get("subject", ""),
            body=job.content.get("body", ""),
            message_key=f"wfjob.{job.pk}",
        )
    except EmailNotConfigured as exc:
        raise PermanentFailure(str(exc)) from exc
    except smtplib.SMTPResponseException as exc:
        # 5xx is the server's final answer (RFC 5321 §4.2.1); 4xx is worth retrying.
        if 500 <= exc.smtp_code < 600:
            raise PermanentFailure(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(500 <= c < 600 for c in codes):
            raise PermanentFailure(f"recipient refused: {exc.recipients!r}") from exc
        raise
    # Not atomic with the send (SMTP is not transactional): a crash right here re-sends after the lease.
    _finish(job=job, token=token, status=JobStatus.COMPLETED)
    return ExecutionOutcome(JobStatus.COMPLETED)


def workflow_job_execute(*, job_id) -> ExecutionOutcome | None:
    """Run job ``job_id`` if it is pending and due; None when another run owns it or it is not due.

    Call inside the tenant's schema.
    """
    token = _claim(job_id=job_id, now=timezone.now())
    if token is None:
        return None
    job = WorkflowJob.objects.select_related("workflow").get(pk=job_id)
    if job.workflow is None or not job.workflow.is_active:
        reason = "The workflow was deleted." if job.workflow is None else "The workflow was deactivated."
        _finish(job=job, token=token, status=JobStatus.CANCELLED, error=reason)
        return ExecutionOutcome(JobStatus.CANCELLED, error=reason)
    try:
        if job.channel == Channel.EMAIL:
            return _run_email(job, token)
        return _run_whatsapp(job, token)
    except _ClaimLost:
        logger.info("workflow job %s: claim superseded, leaving it to the newer attempt", job.pk)
        return None
    except PermanentFailure as exc:
        _finish(job=job, token=token, status=JobStatus.FAILED, error=str(exc))
        return ExecutionOutcome(JobStatus.FAILED, error=str(exc))
    except Exception as exc:  # transport, database, anything transient: retried with backoff
        logger.warning("workflow job %s attempt %s failed: %s", job.pk, job.attempts, exc, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"
        return ExecutionOutcome(_retry_or_fail(job=job, token=token, error=error), error=error)


def workflow_jobs_cancel(*, job_ids, reason: str) -> list:
    """Cancel the given jobs that are still pending; returns the ids actually cancelled."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            WorkflowJob.objects.select_for_update()
            .filter(pk__in=list(job_ids), status=JobStatus.PENDING)
            .values_list("pk", flat=True)
        )
        WorkflowJob.objects.filter(pk__in=ids, status=JobStatus.PENDING).update(
            status=JobStatus.CANCELLED, finished_at=now, last_error=reason[:2000]
        )
    return ids


@transaction.atomic
def workflow_job_retry(*, job_id) -> WorkflowJob:
    """Run a failed job again now, with a fresh set of attempts (admin action)."""
    now = timezone.now()
    job = WorkflowJob.objects.select_for_update(of=("self",)).select_related("workflow").filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such job.")
    if job.status != JobStatus.FAILED:
        raise ApplicationError(f"Only failed jobs can be retried; this one is {job.status}.")
    job.status = JobStatus.PENDING
    job.next_run_at = now
    job.enqueued_at = now
    per_run = (job.workflow.max_attempts if job.workflow else None) or workflow_settings().max_attempts
    job.max_attempts = job.attempts + per_run
    job.finished_at = None
    job.save(update_fields=["status", "next_run_at", "enqueued_at", "max_attempts", "finished_at"])
    jobs_enqueue_on_commit([(job.pk, now)])
    return job
