"""Firing a trigger: one job per active rule, scheduled at ``baseTime + delay``.

The rules (also in the API docs, workflows/api/views.py):
- delay: the request's delay, when given, *replaces* each rule's ``delay_minutes``
  (one ``appointment_reminder`` rule then serves the 1 h and the 15 min reminder);
  without it each rule's own delay applies. Negative delays are "before baseTime".
- baseTime: defaults to now; a naive time is read in the tenant's timezone (done by the caller).
- past due: a job due less than ``WORKFLOWS_LATE_GRACE_SECONDS`` (60 s) ago is sent at once;
  further in the past the whole request is refused (422, field ``baseTime`` or ``delayMinutes``)
  unless ``allow_late``, which sends such jobs at once (marked ``late``).
- idempotency: a repeated ``idempotency_key`` with the same request returns the first
  response (``duplicate: true``, HTTP 200) and schedules nothing; with a different
  request it is a Conflict (409). A unique constraint makes this hold under races.
- a trigger with no active workflow is not an error (client sites must not break), but the
  response says so in ``warnings`` (``no active workflow for trigger "x"``), the log says
  it, and with ``notify_owners`` (the API) the owners get one notification until they read it.
- appointment_cancelled with ``callbackMetadata.moduleId`` cancels that appointment's
  pending jobs (appointment_confirmed/_reminder/_rescheduled, same moduleType if given);
  appointment_rescheduled moves its pending reminders to ``new baseTime + their delay``
  (cancelling those whose new time has already passed).
"""

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from bizmitra.errors import Conflict, ValidationFailed
from bizmitra.phones import phone_e164
from workflows.choices import REMINDER_TRIGGERS, JobStatus, StandardTrigger
from workflows.conf import workflow_settings
from workflows.models import CommunicationWorkflow, WorkflowJob, WorkflowTrigger
from workflows.services.callbacks import callback_url_error
from workflows.services.rules import RenderError, content_render
from workflows.services.scheduling import jobs_enqueue_on_commit, within_horizon
from workflows.validators import TRIGGER_SLUG

APPOINTMENT_TRIGGERS = frozenset(
    {
        StandardTrigger.APPOINTMENT_CONFIRMED,
        StandardTrigger.APPOINTMENT_REMINDER,
        StandardTrigger.APPOINTMENT_RESCHEDULED,
    }
)
MAX_VARIABLES = 100
MAX_METADATA_BYTES = 8192
SCALARS = (str, int, float, bool, type(None))

logger = logging.getLogger(__name__)


@dataclass
class TriggerResult:
    """What a trigger call produced; ``response`` is the body the API returns."""

    trigger_event: WorkflowTrigger
    response: dict
    duplicate: bool = False
    jobs: list[WorkflowJob] = field(default_factory=list)


def _validate_input(
    *, trigger, phone, variables, email, callback_url, callback_metadata, idempotency_key, delay
) -> tuple[dict, str]:
    errors: dict[str, list[str]] = {}
    if not TRIGGER_SLUG.match(trigger or ""):
        errors["trigger"] = [
            "A trigger is a slug (lowercase letters, digits, underscores, starting with a letter), e.g. "
            + ", ".join(StandardTrigger.values[:3])
            + "."
        ]
    e164 = ""
    try:
        e164 = phone_e164(phone)
    except ValueError as exc:
        errors["phone"] = [str(exc)]
    if isinstance(variables, list):
        if len(variables) > MAX_VARIABLES or not all(isinstance(v, SCALARS) for v in variables):
            errors["variables"] = [f"A list of at most {MAX_VARIABLES} strings or numbers."]
    elif isinstance(variables, dict):
        if len(variables) > MAX_VARIABLES or not all(isinstance(v, SCALARS) for v in variables.values()):
            errors["variables"] = [f"An object of at most {MAX_VARIABLES} string or number values."]
    else:
        errors["variables"] = ["Must be a list (positional template variables) or an object (named ones)."]
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            errors["email"] = [f"'{email}' is not a valid email address."]
    if callback_url:
        problem = callback_url_error(callback_url) if len(callback_url) <= 2048 else "At most 2048 characters."
        if problem:
            errors["callback_url"] = [problem]
    if not isinstance(callback_metadata, dict):
        errors["callback_metadata"] = ["Must be an object."]
    elif len(json.dumps(callback_metadata)) > MAX_METADATA_BYTES:
        errors["callback_metadata"] = [f"At most {MAX_METADATA_BYTES} bytes of JSON."]
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 255):
        errors["idempotency_key"] = ["Between 1 and 255 characters."]
    max_days = workflow_settings().max_schedule_days
    if delay is not None and abs(delay) > timedelta(days=max_days):
        errors["delay"] = [f"At most {max_days} days either way."]
    return errors, e164


def _fingerprint(**values) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _module(callback_metadata: dict) -> tuple[str, str]:
    module_id = callback_metadata.get("moduleId")
    module_type = callback_metadata.get("moduleType")
    return ("" if module_id is None else str(module_id)[:255]), ("" if module_type is None else str(module_type))


def _replay(existing: WorkflowTrigger, fingerprint: str) -> TriggerResult:
    if existing.request_fingerprint != fingerprint:
        raise Conflict(
            "This idempotencyKey was already used for a different request.",
            fields={"idempotency_key": ["Already used with other values; use a new key for a new request."]},
            extra={"jobIds": existing.response.get("jobIds", [])},
        )
    # Responses stored before ``warnings`` existed answer with an empty list.
    response = {"warnings": [], **existing.response, "duplicate": True}
    return TriggerResult(trigger_event=existing, response=response, duplicate=True)


def _no_workflow_warning(trigger: str) -> str:
    return f'no active workflow for trigger "{trigger}"'


def _owners_notify_no_workflow(*, trigger: str) -> None:
    """Tell the owners once (until they read it): a client site fires a trigger nobody set up."""
    from leads.choices import NotificationKind
    from leads.models import Notification
    from leads.selectors import owners_list
    from leads.services.notifications import notification_create

    title = f'No active workflow for trigger "{trigger}"'
    # A client site may fire it for every booking: one unread notice is enough.
    if Notification.objects.filter(kind=NotificationKind.WORKFLOW_FAILED, title=title, read_at__isnull=True).exists():
        return
    notification_create(
        recipients=owners_list(),
        kind=NotificationKind.WORKFLOW_FAILED,
        title=title,
        body=(
            f'A client site called POST /api/workflows/trigger with trigger "{trigger}", and no active workflow '
            "has that trigger, so nothing was scheduled. Add one in Admin → Workflows (or switch it on), "
            "or correct the trigger name on the site."
        ),
    )


def _module_jobs(*, module_id: str, module_type: str, triggers) -> list[WorkflowJob]:
    queryset = WorkflowJob.objects.select_for_update().filter(
        module_id=module_id, status=JobStatus.PENDING, trigger__in=list(triggers)
    )
    if module_type:
        queryset = queryset.filter(callback_metadata__moduleType=module_type)
    return list(queryset)


def _cancel_module(*, module_id: str, module_type: str, now: datetime, reason: str) -> list[str]:
    jobs = _module_jobs(module_id=module_id, module_type=module_type, triggers=APPOINTMENT_TRIGGERS)
    ids = [job.pk for job in jobs]
    WorkflowJob.objects.filter(pk__in=ids, status=JobStatus.PENDING).update(
        status=JobStatus.CANCELLED, finished_at=now, last_error=reason
    )
    return [str(pk) for pk in ids]


def _reschedule_module(
    *, module_id: str, module_type: str, base_time: datetime, now: datetime, reason: str
) -> tuple[list[str], list[str], list]:
    grace = timedelta(seconds=workflow_settings().late_grace_seconds)
    moved, cancelled, handoff = [], [], []
    for job in _module_jobs(module_id=module_id, module_type=module_type, triggers=REMINDER_TRIGGERS):
        due = base_time + timedelta(seconds=job.delay_seconds)
        if due < now - grace:
            # A reminder for a moment that is already over (e.g. "1 h before" an appointment moved to in 30 min).
            WorkflowJob.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
                status=JobStatus.CANCELLED, finished_at=now, last_error=f"{reason}: its new time has passed."
            )
            cancelled.append(str(job.pk))
            continue
        run_at = max(due, now)
        near = within_horizon(run_at, now=now)
        WorkflowJob.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
            base_time=base_time, due_at=due, next_run_at=run_at, enqueued_at=now if near else None
        )
        if near:
            handoff.append((job.pk, run_at))
        moved.append(str(job.pk))
    return moved, cancelled, handoff


def _job_view(job: WorkflowJob, *, late: bool) -> dict:
    return {
        "id": str(job.pk),
        "workflowId": job.workflow_id,
        "workflow": job.workflow.name if job.workflow else "",
        "channel": job.channel,
        "status": job.status,
        "dueAt": job.due_at.isoformat(),
        "late": late,
    }


def workflow_trigger_fire(
    *,
    trigger: str,
    phone: str,
    variables: list | dict | None = None,
    email: str = "",
    conversation_id: int | None = None,
    base_time: datetime | None = None,
    delay: timedelta | None = None,
    callback_url: str = "",
    callback_metadata: dict | None = None,
    idempotency_key: str | None = None,
    allow_late: bool = False,
    notify_owners: bool = False,
) -> TriggerResult:
    """Fire ``trigger`` for ``phone``: schedule one job per active rule (call inside the tenant's schema).

    ``base_time`` must be timezone-aware. Raises ValidationFailed (fields named by
    argument) or Conflict (idempotency key reused with another request). ``notify_owners``:
    a trigger without active workflow also notifies the owners (outside callers; our own
    services fire ``lead_captured`` for every lead whether or not a workflow listens).
    """
    variables = [] if variables is None else variables
    callback_metadata = {} if callback_metadata is None else callback_metadata
    idempotency_key = idempotency_key or None
    errors, e164 = _validate_input(
        trigger=trigger,
        phone=phone,
        variables=variables,
        email=email,
        callback_url=callback_url,
        callback_metadata=callback_metadata,
        idempotency_key=idempotency_key,
        delay=delay,
    )
    if errors:
        raise ValidationFailed("The trigger request is invalid.", fields=errors)

    fingerprint = _fingerprint(
        trigger=trigger,
        phone=e164,
        variables=variables,
        email=email,
        conversation_id=conversation_id,
        base_time=base_time.isoformat() if base_time else None,
        delay=delay.total_seconds() if delay is not None else None,
        callback_url=callback_url,
        callback_metadata=callback_metadata,
        allow_late=allow_late,
    )
    if idempotency_key:
        existing = WorkflowTrigger.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, fingerprint)

    conf = workflow_settings()
    now = timezone.now()
    base = base_time or now
    rules = list(CommunicationWorkflow.objects.filter(trigger=trigger, is_active=True).order_by("pk"))
    module_id, module_type = _module(callback_metadata)

    jobs: list[tuple[WorkflowJob, bool]] = []
    for rule in rules:
        effective = delay if delay is not None else timedelta(minutes=rule.delay_minutes)
        try:
            due = base + effective
        except OverflowError:  # a baseTime near year 9999 plus a delay
            errors.setdefault("base_time" if base_time else "delay", []).append("Past the last date we can store.")
            continue
        late = due < now - timedelta(seconds=conf.late_grace_seconds)
        if late and not allow_late:
            where = "base_time" if base_time else "delay"
            errors.setdefault(where, []).append(
                f"Workflow '{rule.name}' would be due at {due.isoformat()}, more than {conf.late_grace_seconds:g} s "
                "ago; send allowLate: true to send it now instead."
            )
        if due > now + timedelta(days=conf.max_schedule_days):
            errors.setdefault("base_time" if base_time else "delay", []).append(
                f"Workflow '{rule.name}' would be due more than {conf.max_schedule_days} days ahead."
            )
        if rule.channel == "email" and not email:
            errors.setdefault("email", []).append(f"Workflow '{rule.name}' sends email: an email address is required.")
        try:
            content = content_render(workflow=rule, variables=variables, phone=e164)
        except RenderError as exc:
            errors.setdefault("variables", []).append(f"Workflow '{rule.name}' {exc}.")
            content = {}
        run_at = max(due, now)
        job = WorkflowJob(
            workflow=rule,
            trigger=trigger,
            channel=rule.channel,
            recipient_phone=e164,
            recipient_email=email if rule.channel == "email" else "",
            conversation_id=conversation_id,
            content=content,
            variables=variables,
            base_time=base_time,
            delay_seconds=int(effective.total_seconds()),
            due_at=due,
            next_run_at=run_at,
            max_attempts=rule.max_attempts or conf.max_attempts,
            retry_base_seconds=rule.retry_base_seconds or conf.retry_base_seconds,
            callback_url=callback_url,
            callback_metadata=callback_metadata,
            module_id=module_id,
            enqueued_at=now if within_horizon(run_at, now=now) else None,
        )
        jobs.append((job, late))
    if conversation_id is not None and jobs:
        from conversations.models import Conversation

        if not Conversation.objects.filter(pk=conversation_id).exists():
            errors["conversation_id"] = [f"No conversation {conversation_id} in this tenant."]
    if trigger == StandardTrigger.APPOINTMENT_RESCHEDULED and module_id and base_time is None:
        errors["base_time"] = ["The new appointment time is required to move its reminders."]
    if errors:
        raise ValidationFailed("The trigger request is invalid.", fields=errors)

    with transaction.atomic():
        try:
            with transaction.atomic():
                event = WorkflowTrigger.objects.create(
                    trigger=trigger, idempotency_key=idempotency_key, request_fingerprint=fingerprint, phone=e164
                )
        except IntegrityError:
            # A concurrent request with the same key won the insert; answer as its repeat.
            return _replay(WorkflowTrigger.objects.get(idempotency_key=idempotency_key), fingerprint)

        cancelled: list[str] = []
        rescheduled: list[str] = []
        handoff = []
        reason = f"{trigger} (trigger {event.pk})"
        if module_id and trigger == StandardTrigger.APPOINTMENT_CANCELLED:
            cancelled = _cancel_module(module_id=module_id, module_type=module_type, now=now, reason=reason)
        elif module_id and trigger == StandardTrigger.APPOINTMENT_RESCHEDULED:
            rescheduled, cancelled, handoff = _reschedule_module(
                module_id=module_id, module_type=module_type, base_time=base_time, now=now, reason=reason
            )

        for job, _ in jobs:
            job.trigger_event = event
        WorkflowJob.objects.bulk_create([job for job, _ in jobs])
        handoff += [(job.pk, job.next_run_at) for job, _ in jobs if job.enqueued_at is not None]
        jobs_enqueue_on_commit(handoff)

        warnings: list[str] = []
        if not rules and not cancelled and not rescheduled:
            warnings.append(_no_workflow_warning(trigger))
            logger.warning("trigger %s (event %s): no active workflow, nothing scheduled", trigger, event.pk)
            if notify_owners:
                _owners_notify_no_workflow(trigger=trigger)
        response = {
            "triggerId": event.pk,
            "trigger": trigger,
            "phone": e164,
            "jobIds": [str(job.pk) for job, _ in jobs],
            "jobs": [_job_view(job, late=late) for job, late in jobs],
            "cancelledJobIds": cancelled,
            "rescheduledJobIds": rescheduled,
            "warnings": warnings,
        }
        event.response = response
        event.save(update_fields=["response"])
    return TriggerResult(trigger_event=event, response={**response, "duplicate": False}, jobs=[job for job, _ in jobs])
