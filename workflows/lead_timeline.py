"""What the leads pages show of workflows, through the hooks leads defines (``leads.hooks``,
installed from ``WorkflowsConfig.ready``): the workflow messages for a lead's contact in its
timeline, and each appointment's reminder plan in the agenda. Reads only; call inside the
tenant's schema.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from leads.dashboard.selectors import TimelineItem
from leads.hooks import PlannedMessage
from workflows.choices import JobStatus, StandardTrigger
from workflows.models import WorkflowJob
from workflows.services.lead_triggers import lead_phone

TIMELINE_JOBS = 30
PLAN_LABELS = {
    StandardTrigger.APPOINTMENT_CONFIRMED: "Confirmation",
    StandardTrigger.APPOINTMENT_REMINDER: "Reminder",
    StandardTrigger.APPOINTMENT_RESCHEDULED: "New time",
    StandardTrigger.APPOINTMENT_CANCELLED: "Cancellation",
}
STATUS_LABELS = {
    JobStatus.PENDING: "Scheduled",
    JobStatus.RUNNING: "Sending",
    JobStatus.COMPLETED: "Sent",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
}


def _trigger_label(trigger: str) -> str:
    try:
        return StandardTrigger(trigger).label
    except ValueError:
        return trigger.replace("_", " ").capitalize()


def lead_workflow_entries(lead) -> list[TimelineItem]:
    """The lead's workflow jobs, newest first: those its own events set off (``lead:<id>``,
    its appointments) and those fired for its phone number through the trigger API."""
    modules = [f"lead:{lead.pk}", *(f"appointment:{pk}" for pk in lead.appointments.values_list("pk", flat=True))]
    match = Q(module_id__in=modules)
    phone = lead_phone(lead)
    if phone:
        match |= Q(recipient_phone=phone)
    jobs = WorkflowJob.objects.filter(match).select_related("workflow").order_by("-created_at")[:TIMELINE_JOBS]
    items = []
    for job in jobs:
        name = job.workflow.name if job.workflow_id else "deleted workflow"
        when = timezone.localtime(job.due_at)
        status = STATUS_LABELS.get(job.status, job.status)
        body = f"{job.get_channel_display()} · {status.lower()} · due {when:%d %b %H:%M}"
        if job.status == JobStatus.FAILED and job.last_error:
            body += f" · {job.last_error[:200]}"
        items.append(
            TimelineItem(
                at=job.created_at,
                kind="workflow",
                title=f"Workflow triggered: {_trigger_label(job.trigger)} ({name})",
                body=body,
                by="workflow",
            )
        )
    return items


def appointment_plans(appointment_ids: list[int]) -> dict[int, list[PlannedMessage]]:
    """Every workflow message of these appointments (one query), by due time."""
    if not appointment_ids:
        return {}
    modules = {f"appointment:{pk}": pk for pk in appointment_ids}
    plans: dict[int, list[PlannedMessage]] = {pk: [] for pk in appointment_ids}
    jobs = (
        WorkflowJob.objects.filter(module_id__in=list(modules))
        .select_related("workflow")
        .order_by("due_at", "created_at")
    )
    for job in jobs:
        plans[modules[job.module_id]].append(
            PlannedMessage(
                trigger=job.trigger,
                label=PLAN_LABELS.get(job.trigger, _trigger_label(job.trigger)),
                workflow=job.workflow.name if job.workflow_id else "deleted workflow",
                channel=job.get_channel_display(),
                due_at=job.due_at,
                status=job.status,
                status_label=STATUS_LABELS.get(job.status, job.status),
                error=job.last_error[:200] if job.status == JobStatus.FAILED else "",
            )
        )
    return plans


def lead_pages_hooks_install() -> None:
    from leads import hooks

    hooks.install(timeline=lead_workflow_entries, appointment_plan=appointment_plans)
