"""Reads for the owners' security pages. Call inside the tenant's schema: lockouts and audit
entries are kept in each tenant's own tables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from auditlog.models import LogEntry
from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from bizmitra.actors import SYSTEM_ACTOR


@dataclass(frozen=True)
class Lockout:
    id: int
    username: str
    ip_address: str
    failures: int
    last_attempt: datetime
    until: datetime | None


def lockout_list() -> list[Lockout]:
    """Accounts and addresses refused right now (failures at the limit, cool-off running)."""
    cool_off = get_cool_off()
    attempts = AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT)
    if cool_off:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return [
        Lockout(
            id=a.pk,
            username=a.username or "",
            ip_address=a.ip_address or "",
            failures=a.failures_since_start,
            last_attempt=a.attempt_time,
            until=a.attempt_time + cool_off if cool_off else None,
        )
        for a in attempts.order_by("-attempt_time")[:100]
    ]


def failed_login_list(*, limit: int = 50) -> QuerySet[AccessFailureLog]:
    return AccessFailureLog.objects.order_by("-attempt_time")[:limit]


def sign_in_where(path: str) -> str:
    if path.startswith("/api/"):
        return "API token"
    if path.startswith("/admin/"):
        return "Admin"
    return "Dashboard"


def audit_entry_list() -> QuerySet[LogEntry]:
    return LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-pk")


def audit_actor_label(entry: LogEntry) -> str:
    if entry.actor_id is not None:
        return entry.actor.get_username()
    return (entry.additional_data or {}).get("actor") or entry.actor_email or SYSTEM_ACTOR


def audit_changes(entry: LogEntry) -> list[tuple[str, object, object]]:
    """(field, before, after) of a change; a created row lists its values as "after". Reverse
    relations auditlog lists on a created row ("leads.Lead.None") and the id say nothing."""
    rows = []
    for field, values in (entry.changes_dict or {}).items():
        if isinstance(values, dict):  # m2m: {"type": "m2m", "operation": "add", "objects": [...]}
            operation = {"add": "added", "delete": "removed"}.get(values.get("operation"), values.get("operation", ""))
            objects = ", ".join(map(str, values.get("objects", [])))
            rows.append((field.replace("_", " "), None, f"{operation}: {objects}"))
            continue
        before, after = (list(values) + [None, None])[:2] if isinstance(values, list) else (None, values)
        if entry.action == LogEntry.Action.CREATE and (field == "id" or _REVERSE_NONE.match(str(after))):
            continue
        rows.append((field.replace("_", " "), before, after))
    return rows


_REVERSE_NONE = re.compile(r"^[\w]+\.[\w]+\.None$")
