"""Delivery statuses of outbound messages (sent, delivered, read, played, failed).

Meta sends statuses out of order, more than once, and sometimes before we have recorded
the wamid of the send they belong to. So a status only ever moves a message forward
(``parsing.status_supersedes``, applied as a conditional UPDATE so parallel workers cannot
undo each other), a status for an unknown wamid waits as a ``PendingStatus``, and a
transaction-scoped advisory lock per wamid closes the gap between "no message has this
wamid" and "the send just recorded it". Call everything here inside the tenant's schema.

Statuses come in batches (``statuses_apply``: every status of the webhooks a relay batch
announced, issue 13 §1): Meta sends one webhook per status, so applying them one by one
cost a lock, a read and an update per status and was the chaos bench's whole tail. A batch
costs a fixed number of statements whatever its size: one lock pass over its wamids (taken
in one order, so two batches cannot deadlock), one read of their messages, one UPDATE that
moves every message to where its statuses lead from the status it has *now* (each message's
statuses folded in (timestamp, rank) order, so the outcome is the one applying them one by
one would give), and, for wamids not recorded yet, one adoption by ``biz_opaque_callback_data``,
one read and delete of what was parked for them, and one insert of what must wait.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
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
_PROGRESS_FIELDS = ("sent_at", "delivered_at", "read_at")
# Arbitrary first key of pg_advisory_xact_lock(int, int), so these locks meet no one else's.
_LOCK_CLASS = 0x424D5A01

_TABLE = Message._meta.db_table
# The DISTINCT + ORDER BY subquery is not pulled up, so the locks are taken in hash order:
# two batches sharing wamids wait for each other instead of deadlocking.
_LOCK_ALL_SQL = (
    "SELECT pg_advisory_xact_lock(%s, h) FROM "
    "(SELECT DISTINCT hashtext(w) AS h FROM unnest(%b::text[]) AS w ORDER BY 1) AS locks"
)
# ``cur`` locks the rows (in id order) and reads the status each has now, after any send that
# committed meanwhile; ``v.moves`` maps that status to where the message's statuses lead.
_MOVE_SQL = (
    f"WITH cur AS (SELECT id, status FROM {_TABLE} WHERE id = ANY(%b::bigint[]) ORDER BY id FOR UPDATE) "
    f"UPDATE {_TABLE} AS m SET "
    "status = COALESCE(v.moves::jsonb ->> cur.status, m.status), "
    "updated_at = CASE WHEN v.moves::jsonb ->> cur.status IS NULL THEN m.updated_at ELSE %s END, "
    "sent_at = COALESCE(m.sent_at, v.sent_at), "
    "delivered_at = COALESCE(m.delivered_at, v.delivered_at), "
    "read_at = COALESCE(m.read_at, v.read_at) "
    "FROM cur, unnest(%b::bigint[], %b::text[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[]) "
    "AS v(id, moves, sent_at, delivered_at, read_at) "
    "WHERE m.id = cur.id AND m.id = v.id AND ("
    "v.moves::jsonb ->> cur.status IS NOT NULL "
    "OR (m.sent_at IS NULL AND v.sent_at IS NOT NULL) "
    "OR (m.delivered_at IS NULL AND v.delivered_at IS NOT NULL) "
    "OR (m.read_at IS NULL AND v.read_at IS NOT NULL)) "
    "RETURNING m.id, cur.status"
)
_ADOPT_SQL = (
    f"UPDATE {_TABLE} AS m SET wamid = v.wamid, updated_at = %s "
    "FROM unnest(%b::bigint[], %b::text[]) AS v(id, wamid) "
    "WHERE m.id = v.id AND m.direction = %s AND m.wamid IS NULL "
    "RETURNING m.wamid, m.id"
)

_PENDING_TAKE_SQL = (
    f"DELETE FROM {PendingStatus._meta.db_table} WHERE wamid = ANY(%b::text[]) "
    "RETURNING wamid, status, timestamp, error_code, error_title, error_details"
)


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


def status_apply(*, update: StatusUpdate) -> None:
    """Apply one status webhook to the message with its wamid (inside the tenant's schema).

    ``statuses_apply`` with one status; see there.
    """
    statuses_apply(updates=[update])


# Nested in ingest's per-part savepoint (the common case), a savepoint of its own would only
# cost two more statements per batch.
@transaction.atomic(savepoint=False)
def statuses_apply(*, updates: Sequence[StatusUpdate]) -> None:
    """Apply status webhooks to the messages with their wamids (inside the tenant's schema).

    Each message's statuses are applied in (timestamp, rank) order, whatever order they came
    in, and only ever move it forward. Unknown wamid: if ``biz_opaque_callback_data`` names an
    outbound message that has no wamid yet (its worker died after Meta accepted it), that
    message gets the wamid and what was parked for it; otherwise the status is kept as a
    ``PendingStatus`` until ``pending_statuses_apply``. Re-runnable: a redelivered batch
    changes nothing and publishes nothing. Holds the wamids' advisory locks and the messages'
    row locks until the transaction ends.
    """
    placeable = [u for u in updates if u.wamid and _superseded_by(u.status)]
    if not placeable:
        return  # no wamid, or a status we cannot place (Meta added one): never overwrite a known one
    placeable.sort(key=lambda u: (_when(u.timestamp), STATUS_RANK.get(u.status, 0)))
    wamids = sorted({u.wamid for u in placeable})
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ALL_SQL, (_LOCK_CLASS, wamids))
    found = dict(Message.objects.filter(wamid__in=wamids).order_by().values_list("wamid", "pk"))
    adopted = _reconcile([u for u in placeable if u.wamid not in found])
    reports = _pending_take(adopted) if adopted else defaultdict(list)
    parked: dict[tuple[str, str], StatusUpdate] = {}
    for update in placeable:
        message_id = found.get(update.wamid) or adopted.get(update.wamid)
        if message_id is None:
            parked.setdefault((update.wamid, update.status), update)  # the first one is kept
        else:
            reports[message_id].append(_report_from(update))
    if parked:
        PendingStatus.objects.bulk_create([_pending_from(u) for u in parked.values()], ignore_conflicts=True)
    _apply_all(reports)


@transaction.atomic
def pending_statuses_apply(*, message: Message) -> None:
    """Apply the statuses that arrived before ``message``'s wamid was recorded.

    The outbound send calls this right after storing the wamid (inside the tenant's schema).
    """
    if not message.wamid:
        return
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ALL_SQL, (_LOCK_CLASS, [message.wamid]))
    _apply_all(_pending_take({message.wamid: message.pk}))


@transaction.atomic
def pending_statuses_apply_many(*, messages: list[Message]) -> None:
    """``pending_statuses_apply`` for many just-sent messages (the engine's batch delivery):
    their wamids locked with one statement, their parked statuses taken with one more."""
    message_ids = {message.wamid: message.pk for message in messages if message.wamid}
    if not message_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ALL_SQL, (_LOCK_CLASS, list(message_ids)))
    _apply_all(_pending_take(message_ids))


def _pending_take(message_ids: dict[str, int]) -> defaultdict[int, list[_Report]]:
    """What was parked for these wamids (now recorded: message id by wamid), taken off the park
    in one statement."""
    reports: defaultdict[int, list[_Report]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_PENDING_TAKE_SQL, (list(message_ids),))
        for wamid, status, at, code, title, details in cursor.fetchall():
            reports[message_ids[wamid]].append(_Report(status, at, code, title, details))
    return reports


def _apply_all(reports: dict[int, list[_Report]]) -> None:
    """Move each message as its reports, in order, say; one UPDATE for all of them.

    A message with a ``failed`` report goes report by report (``_apply``): its error fields
    depend on whether that report moves it, and failures are rare.
    """
    batch: dict[int, list[_Report]] = {}
    for message_id, its in reports.items():
        ordered = sorted(its, key=lambda r: r.order)
        if any(r.status == STATUS_FAILED for r in ordered):
            for report in ordered:
                _apply(message_id, report)
        elif ordered:
            batch[message_id] = ordered
    if not batch:
        return
    ids = sorted(batch)
    moves, steps = [], {}
    times: dict[str, list[datetime | None]] = {name: [] for name in _PROGRESS_FIELDS}
    for message_id in ids:
        moved, steps[message_id] = _fold(tuple(r.status for r in batch[message_id]))
        moves.append(json.dumps(moved))
        first = {}
        for report in batch[message_id]:
            first.setdefault(_TIMESTAMP_FIELD.get(report.status), report.at)
        for name in _PROGRESS_FIELDS:
            times[name].append(first.get(name))
    with connection.cursor() as cursor:
        cursor.execute(_MOVE_SQL, (ids, timezone.now(), ids, moves, *(times[name] for name in _PROGRESS_FIELDS)))
        rows = cursor.fetchall()
    for message_id, was in rows:
        for status in steps[message_id].get(was, ()):
            publish("message.status", message_id=message_id, status=status)


@lru_cache(maxsize=256)
def _fold(statuses: tuple[str, ...]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """For every status a message may have now: where ``statuses`` (in order) take it, and the
    steps on the way — what applying them one by one with ``status_supersedes`` would do."""
    moves: dict[str, str] = {}
    steps: dict[str, tuple[str, ...]] = {}
    for current in MessageStatus.values:
        status, taken = current, []
        for incoming in statuses:
            if status_supersedes(status, incoming):
                status = incoming
                taken.append(incoming)
        if taken:
            moves[current], steps[current] = status, tuple(taken)
    return moves, steps


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


def _reconcile(unknown: list[StatusUpdate]) -> dict[str, int]:
    """Adopt the wamids of sends that Meta accepted but whose worker died before recording them:
    the outbound message named by ``bzm:<id>`` gets the wamid if it has none. Message id by wamid."""
    claimed: dict[int, str] = {}
    for update in unknown:
        data = update.biz_opaque_callback_data
        if not data.startswith(CALLBACK_PREFIX):
            continue
        try:
            message_id = int(data[len(CALLBACK_PREFIX) :])
        except ValueError:
            continue
        if 0 < message_id < 2**63 and update.wamid not in claimed.values():
            claimed.setdefault(message_id, update.wamid)
    if not claimed:
        return {}
    ids = sorted(claimed)
    with connection.cursor() as cursor:
        cursor.execute(_ADOPT_SQL, (timezone.now(), ids, [claimed[i] for i in ids], Direction.OUTBOUND))
        return dict(cursor.fetchall())


def _report_from(update: StatusUpdate) -> _Report:
    return _Report(
        status=update.status,
        at=_when(update.timestamp),
        error_code=update.error_code,
        error_title=update.error_title,
        error_details=update.error_details or update.error_message,
    )


def _pending_from(update: StatusUpdate) -> PendingStatus:
    report = _report_from(update)
    return PendingStatus(
        wamid=update.wamid,
        status=report.status,
        timestamp=report.at,
        error_code=report.error_code,
        error_title=report.error_title[:255],  # as on the message; longer cannot be parked
        error_details=report.error_details,
        biz_opaque_callback_data=update.biz_opaque_callback_data[:512],
    )


def _when(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp > 0 else timezone.now()
