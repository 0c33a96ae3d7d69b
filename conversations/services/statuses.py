"""Delivery statuses of outbound messages (sent, delivered, read, played, failed).

Meta sends statuses out of order, more than once, and sometimes before we have recorded
the wamid of the send they belong to. So a status only ever moves a message forward
(``parsing.status_supersedes``, applied as a conditional UPDATE so parallel workers cannot
undo each other), a status for an unknown wamid waits as a ``PendingStatus``, and a
transaction-scoped advisory lock per wamid closes the gap between "no message has this
wamid" and "the send just recorded it". Call everything here inside the tenant's schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from bizmitra.events import publish
from conversations.choices import STATUS_RANK, Direction, MessageStatus
from conversations.models import Message, PendingStatus
from conversations.whatsapp.parsing import STATUS_FAILED, StatusUpdate, status_supersedes

CALLBACK_PREFIX = "bzm:"
"""Outbound sends carry ``biz_opaque_callback_data = f"bzm:{message.id}"``."""

_TIMESTAMP_FIELD = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.FAILED: "failed_at",
}
# Arbitrary first key of pg_advisory_xact_lock(int, int), so these locks meet no one else's.
_LOCK_CLASS = 0x424D5A01


@dataclass(frozen=True)
class _Report:
    status: str
    at: datetime
    error_code: int | None = None
    error_title: str = ""
    error_details: str = ""

    @property
    def order(self) -> tuple[datetime, int]:
        return self.at, STATUS_RANK.get(self.status, 0)


@transaction.atomic
def status_apply(*, update: StatusUpdate) -> None:
    """Apply one status webhook to the message with its wamid (inside the tenant's schema).

    Unknown wamid: if ``biz_opaque_callback_data`` names an outbound message that has no
    wamid yet (its worker died after Meta accepted it), that message gets the wamid;
    otherwise the status is kept as a ``PendingStatus`` until ``pending_statuses_apply``.
    """
    if not update.wamid or not _superseded_by(update.status):
        return  # no wamid, or a status we cannot place (Meta added one): never overwrite a known one
    _lock(update.wamid)
    report = _report_from(update)
    message_id = Message.objects.filter(wamid=update.wamid).values_list("pk", flat=True).first()
    if message_id is None:
        message_id = _reconcile(update)
        if message_id is not None:
            _apply_pending(message_id, update.wamid)
    if message_id is None:
        PendingStatus.objects.get_or_create(
            wamid=update.wamid,
            status=report.status,
            defaults={
                "timestamp": report.at,
                "error_code": report.error_code,
                "error_title": report.error_title,
                "error_details": report.error_details,
                "biz_opaque_callback_data": update.biz_opaque_callback_data[:512],
            },
        )
        return
    _apply(message_id, report)


@transaction.atomic
def pending_statuses_apply(*, message: Message) -> None:
    """Apply the statuses that arrived before ``message``'s wamid was recorded.

    The outbound send calls this right after storing the wamid (inside the tenant's schema).
    """
    if not message.wamid:
        return
    _lock(message.wamid)
    _apply_pending(message.pk, message.wamid)


def _apply_pending(message_id: int, wamid: str) -> None:
    pending = list(PendingStatus.objects.filter(wamid=wamid))
    reports = [_Report(p.status, p.timestamp, p.error_code, p.error_title, p.error_details) for p in pending]
    for report in sorted(reports, key=lambda r: r.order):
        _apply(message_id, report)
    PendingStatus.objects.filter(pk__in=[p.pk for p in pending]).delete()


def _apply(message_id: int, report: _Report) -> bool:
    """Move the message to ``report.status`` if that is forward; fill its timestamp either way."""
    allowed = _superseded_by(report.status)
    if not allowed:
        return False
    field = _TIMESTAMP_FIELD.get(report.status)
    changes: dict = {"status": report.status, "updated_at": timezone.now()}
    if field:
        changes[field] = Coalesce(F(field), Value(report.at, output_field=DateTimeField()))
    if report.status == STATUS_FAILED:
        changes.update(
            error_code=report.error_code,
            error_title=report.error_title[:255],
            error_details=report.error_details,
        )
    moved = Message.objects.filter(pk=message_id, status__in=allowed).update(**changes)
    if moved:
        publish("message.status", message_id=message_id, status=report.status)
    elif field and report.status != STATUS_FAILED:
        # e.g. `delivered` arriving after `read`: the status stays, the time is still news.
        Message.objects.filter(pk=message_id, **{f"{field}__isnull": True}).update(**{field: report.at})
    return bool(moved)


@lru_cache(maxsize=32)
def _superseded_by(incoming: str) -> tuple[str, ...]:
    """The stored statuses ``incoming`` may replace (``status_supersedes`` over every choice)."""
    return tuple(current for current in MessageStatus.values if status_supersedes(current, incoming))


def _reconcile(update: StatusUpdate) -> int | None:
    data = update.biz_opaque_callback_data
    if not data.startswith(CALLBACK_PREFIX):
        return None
    try:
        message_id = int(data[len(CALLBACK_PREFIX) :])
    except ValueError:
        return None
    adopted = Message.objects.filter(pk=message_id, direction=Direction.OUTBOUND, wamid__isnull=True).update(
        wamid=update.wamid, updated_at=timezone.now()
    )
    return message_id if adopted else None


def _report_from(update: StatusUpdate) -> _Report:
    return _Report(
        status=update.status,
        at=_when(update.timestamp),
        error_code=update.error_code,
        error_title=update.error_title,
        error_details=update.error_details or update.error_message,
    )


def _when(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp > 0 else timezone.now()


def _lock(wamid: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, wamid))
