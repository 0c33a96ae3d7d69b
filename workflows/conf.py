"""Tunables of the workflow scheduler, each overridable in Django settings.

The hand-off horizon must stay well under the Redis visibility timeout (1 h,
shared/celery-notes.md §1): only jobs due within it are given to Celery with an
ETA; later ones wait in PostgreSQL for the dispatcher.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class WorkflowSettings:
    handoff_horizon_seconds: float
    dispatch_interval_seconds: int
    overdue_grace_seconds: float
    running_lease_seconds: float
    late_grace_seconds: float
    max_schedule_days: int
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    callback_max_attempts: int
    callback_timeout_seconds: float
    callback_allow_private_hosts: bool
    smtp_timeout_seconds: float


def workflow_settings() -> WorkflowSettings:
    get = lambda name, default: getattr(settings, f"WORKFLOWS_{name}", default)  # noqa: E731
    return WorkflowSettings(
        # Jobs due within this many seconds are handed to Celery with eta=due_at.
        handoff_horizon_seconds=get("HANDOFF_HORIZON_SECONDS", 120),
        # How often beat runs the dispatcher; well under the horizon so nothing enters it unseen.
        dispatch_interval_seconds=get("DISPATCH_INTERVAL_SECONDS", 30),
        # A pending job this overdue whose hand-off is at least this old has lost its Celery message.
        overdue_grace_seconds=get("OVERDUE_GRACE_SECONDS", 60),
        # A job "running" longer than this belonged to a worker that died; it is run again.
        running_lease_seconds=get("RUNNING_LEASE_SECONDS", 300),
        # Trigger API: a due time further in the past than this is refused unless allowLate.
        late_grace_seconds=get("LATE_GRACE_SECONDS", 60),
        max_schedule_days=get("MAX_SCHEDULE_DAYS", 400),
        max_attempts=get("MAX_ATTEMPTS", 3),
        retry_base_seconds=get("RETRY_BASE_SECONDS", 5),
        # Backoff is capped far below the visibility timeout; longer waits would go through the dispatcher anyway.
        retry_max_seconds=get("RETRY_MAX_SECONDS", 900),
        callback_max_attempts=get("CALLBACK_MAX_ATTEMPTS", 5),
        callback_timeout_seconds=get("CALLBACK_TIMEOUT_SECONDS", 10),
        # Callbacks to loopback/private addresses are an SSRF risk in production; tests and dev need them.
        callback_allow_private_hosts=get("CALLBACK_ALLOW_PRIVATE_HOSTS", not getattr(settings, "IS_PRODUCTION", False)),
        smtp_timeout_seconds=get("SMTP_TIMEOUT_SECONDS", 15),
    )
