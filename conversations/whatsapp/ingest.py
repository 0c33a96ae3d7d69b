"""Public-schema side of inbound webhooks: store the raw POST, then claim, parse and route it.

The webhook view calls ``signature_valid`` and ``delivery_store``, and nothing else: the one
``INSERT … RETURNING id`` statement also runs ``pg_notify`` on ``DELIVERY_CHANNEL``, so it is
the only database round trip a POST costs on the common path and the view publishes no
Celery task, keeping the endpoint up with Meta's bursts (Chatwoot's "verify, store, 200").
PostgreSQL delivers the notification when the INSERT commits; the relay
(``conversations/whatsapp/relay.py``, a thread in every Celery worker, one of them elected
leader by an advisory lock) LISTENs and publishes batched ``webhook_process_batch_task``s.
NOTIFY is not durable, so the sweeper (``webhook_sweep_task``, beat, every
``SWEEP_EVERY_SECONDS``) re-enqueues deliveries left pending or failed (``deliveries_due``).
Everything else runs later in those Celery tasks (``conversations.whatsapp.tasks``):
``delivery_claim`` locks a stored delivery, ``delivery_parse`` parses it with ``parse_webhook``
and splits it by ``metadata.phone_number_id``, and ``delivery_finish`` records the outcome; the
routing of each part to its tenant's services, inside ``tenant_context``, is
``conversations.services.inbound.inbound_delivery_process`` (the channel verifies, stores and
parses; it does not import the services, see the ``channel-below-services`` contract). What
cannot be routed or stored becomes an ``UnroutedEvent``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from bizmitra import metrics
from conversations.whatsapp.models import UnroutedEvent, WebhookDelivery
from conversations.whatsapp.parsing import (
    MESSAGES_FIELD,
    InboundMessage,
    MalformedWebhook,
    ParsedWebhook,
    StatusUpdate,
    WebhookError,
    parse_webhook,
    storable_or_excerpt,
)
from conversations.whatsapp.signature import signature_matches
from tenants.models import PhoneNumber

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""Processing attempts of a delivery before the sweeper stops retrying it (admin: reprocess)."""

STUCK_AFTER_SECONDS = settings.WHATSAPP_WEBHOOK_STUCK_AFTER_SECONDS
"""A delivery still pending this long after it arrived lost its Celery message: sweep it."""

SWEEP_BATCH = 1000

SWEEP_PERIODIC_TASK = "whatsapp: sweep webhook deliveries"
SWEEP_EVERY_SECONDS = settings.WHATSAPP_WEBHOOK_SWEEP_EVERY_SECONDS

_TABLE = f'"public"."{WebhookDelivery._meta.db_table}"'
# Columns without a database default are all named: the model's defaults live in Python only.
DELIVERY_CHANNEL = "whatsapp_webhook_delivery"
"""PostgreSQL NOTIFY channel announcing each stored delivery to the relay (conversations/whatsapp/relay.py)."""

# One statement, one round trip: the row and its announcement. PostgreSQL delivers the NOTIFY
# only when the INSERT commits, so a worker never hears of a row it cannot read yet; the
# relay in the Celery worker turns announcements into tasks, off the request's hot path.
_INSERT_SQL = (
    f"WITH stored AS (INSERT INTO {_TABLE} (body, received_at, signature_verified, state, attempts, error) "
    "VALUES (%s, now(), true, 'pending', 0, '') RETURNING id) "
    f"SELECT id, pg_notify('{DELIVERY_CHANNEL}', id::text) FROM stored"
)
# The conditional UPDATE is the claim; SKIP LOCKED lets a duplicate task (sweeper re-enqueue,
# redelivered Celery message) return at once instead of waiting for the first to finish.
_CLAIM_SQL = (
    f"UPDATE {_TABLE} SET attempts = attempts + 1 WHERE id = ("
    f"SELECT id FROM {_TABLE} WHERE id = %s AND state <> 'processed' FOR UPDATE SKIP LOCKED"
    ") RETURNING body, attempts, received_at"
)
# The claim of a relay batch in one statement (issue 13 §1); in id order, so two batches
# sharing deliveries lock them in the same order.
# With ``take_pending``, other pending deliveries come along (the oldest first): whichever
# worker runs first takes the backlog in one go, and the tasks announcing those deliveries
# find them done. SKIP LOCKED everywhere: a claim never waits, so claims cannot deadlock.
_CLAIM_MANY_SQL = (
    f"WITH given AS (SELECT id FROM {_TABLE} WHERE id = ANY(%(ids)s) AND state <> 'processed' "
    "ORDER BY id FOR UPDATE SKIP LOCKED), "
    f"more AS (SELECT id FROM {_TABLE} WHERE state = 'pending' AND id <> ALL(%(ids)s) "
    "ORDER BY id LIMIT %(more)s FOR UPDATE SKIP LOCKED) "
    f"UPDATE {_TABLE} SET attempts = attempts + 1 WHERE id IN (SELECT id FROM given UNION ALL SELECT id FROM more) "
    "RETURNING id, body, attempts, received_at"
)
# Failed deliveries come back after 30 s, 60 s, 120 s … (at most an hour) until MAX_ATTEMPTS.
_DUE_SQL = (
    f"SELECT id FROM {_TABLE} WHERE "
    "(%(pending)s AND state = 'pending' AND received_at < now() - make_interval(secs => %(stuck)s)) "
    "OR (state = 'failed' AND attempts < %(max_attempts)s AND processed_at < now() - "
    "LEAST(make_interval(secs => %(stuck)s * power(2, GREATEST(attempts - 1, 0))), interval '1 hour')) "
    "ORDER BY id LIMIT %(limit)s"
)


# -- the hot path -----------------------------------------------------------------------------

_TENANT_SECRETS_TTL = 60.0
# A forged signature triggers a reload at most this often, so it cannot hammer the database.
_TENANT_SECRETS_MIN_RELOAD = 5.0


class _TenantSecrets:
    """Per-process cache of the app secrets of numbers that belong to another Meta app.

    Maps each secret to the phone number ids it may sign for: a tenant knows its own app's
    secret, so a body it signs must only name its own numbers (else a tenant could forge
    inbound messages for another one).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_secret: dict[str, frozenset[str]] = {}
        self._loaded_at = float("-inf")

    def get(self, *, max_age: float) -> dict[str, frozenset[str]]:
        with self._lock:
            if time.monotonic() - self._loaded_at > max_age:
                self._by_secret = self._load()
                self._loaded_at = time.monotonic()
            return self._by_secret

    def age(self) -> float:
        return time.monotonic() - self._loaded_at

    def clear(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")

    @staticmethod
    def _load() -> dict[str, frozenset[str]]:
        by_secret: dict[str, set[str]] = {}
        rows = PhoneNumber.objects.filter(is_active=True).exclude(app_secret="")
        for phone_number_id, secret in rows.values_list("phone_number_id", "app_secret"):
            by_secret.setdefault(str(secret), set()).add(phone_number_id)
        return {secret: frozenset(ids) for secret, ids in by_secret.items()}


_tenant_secrets = _TenantSecrets()


def tenant_app_secrets_clear() -> None:
    """Forget the cached tenant app secrets (tests; a number's secret just changed)."""
    _tenant_secrets.clear()


def signature_valid(*, body: bytes, header: str | None) -> bool:
    """Tell whether ``header`` is Meta's ``X-Hub-Signature-256`` of ``body``.

    The platform's ``META_APP_SECRET`` is tried first and costs no database access. Only
    when it fails are the tenants' own app secrets tried (cached per process, see
    ``_TenantSecrets``), and such a body must name only numbers of that secret's tenant.
    """
    if not header:
        return False
    if signature_matches((settings.META_APP_SECRET,), body, header):
        return True
    if _tenant_signature_valid(body, header, _tenant_secrets.get(max_age=_TENANT_SECRETS_TTL)):
        return True
    # A number onboarded a moment ago is not in the cache yet.
    if _tenant_secrets.age() >= _TENANT_SECRETS_MIN_RELOAD:
        return _tenant_signature_valid(body, header, _tenant_secrets.get(max_age=0))
    return False


def _tenant_signature_valid(body: bytes, header: str, by_secret: dict[str, frozenset[str]]) -> bool:
    matching = [numbers for secret, numbers in by_secret.items() if signature_matches((secret,), body, header)]
    if not matching:
        return False
    named = _phone_number_ids_in(body)
    return bool(named) and any(named <= numbers for numbers in matching)


def _phone_number_ids_in(body: bytes) -> set[str]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return set()
    ids: set[str] = set()
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else ():
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            if isinstance(metadata, dict) and metadata.get("phone_number_id"):
                ids.add(str(metadata["phone_number_id"]))
    return ids


def delivery_store(*, body: bytes) -> int:
    """Insert a verified webhook body as a pending ``WebhookDelivery``; return its id.

    Exactly one round trip: a raw ``INSERT … RETURNING id`` in autocommit, no ORM save,
    no tenant lookup. Raises ``django.db.DatabaseError`` when the database cannot take it:
    the caller must then answer non-200 so that Meta retries.
    """
    reused = connection.connection is not None
    try:
        return _insert(body)
    except (OperationalError, InterfaceError):
        if not reused or connection.in_atomic_block:
            raise
        # A kept-alive connection the server dropped (restart, failover, idle timeout).
        # Retrying once on a fresh one stands in for Django's CONN_HEALTH_CHECKS.
        connection.close()
        return _insert(body)


def _insert(body: bytes) -> int:
    # CONN_HEALTH_CHECKS would spend a `SELECT 1` round trip per request on a reused
    # connection; the INSERT is the check instead (delivery_store retries it once).
    connection.health_check_done = True
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, (body,))
        return cursor.fetchone()[0]


# -- processing (Celery) ----------------------------------------------------------------------


def delivery_process(*, delivery_id: int) -> bool:
    """Claim, parse and route a stored delivery: ``inbound_delivery_process`` in the services.

    Kept here for the callers that named it before routing moved to
    ``conversations.services.inbound`` (issue 9 §3); the import-linter contract
    ``channel-below-services`` lists this one forwarding import as its exception.
    """
    from conversations.services.inbound import inbound_delivery_process

    return inbound_delivery_process(delivery_id=delivery_id)


def deliveries_process(*, delivery_ids: list[int], take_pending: int = 0) -> int:
    """Claim, parse and route stored deliveries together: ``inbound_deliveries_process``.

    The relay's batches come here (``webhook_process_batch_task``); same forwarding import
    as ``delivery_process``.
    """
    from conversations.services.inbound import inbound_deliveries_process

    return inbound_deliveries_process(delivery_ids=delivery_ids, take_pending=take_pending)


@dataclass(frozen=True)
class Claim:
    """A delivery claimed for processing (its row locked until the transaction ends)."""

    delivery_id: int
    body: bytes
    attempts: int
    received_at: int
    """Unix seconds of the delivery's arrival: what impossible timestamps become."""


def delivery_claim(*, delivery_id: int) -> Claim | None:
    """Lock and count an attempt on a stored delivery; None when it is done, taken or gone.

    Call inside a transaction (the row lock is held until it ends), then
    ``delivery_finish`` in the same transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, (delivery_id,))
        row = cursor.fetchone()
    if row is None:
        return None
    return Claim(delivery_id, bytes(row[0]), row[1], int(row[2].timestamp()))


def deliveries_claim(*, delivery_ids: list[int], take_pending: int = 0) -> list[Claim]:
    """``delivery_claim`` for many deliveries in one statement, in id order; those done,
    taken by another worker or gone are left out, and up to ``take_pending`` other pending
    deliveries (oldest first) are claimed too. Call inside a transaction, then
    ``deliveries_finish`` in the same transaction."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_MANY_SQL, {"ids": sorted(set(delivery_ids)), "more": max(take_pending, 0)})
        rows = cursor.fetchall()
    return sorted(
        (Claim(row[0], bytes(row[1]), row[2], int(row[3].timestamp())) for row in rows), key=lambda c: c.delivery_id
    )


def deliveries_finish(*, problems: dict[int, list[str]]) -> None:
    """``delivery_finish`` for many claimed deliveries: the processed ones in one statement."""
    done = [delivery_id for delivery_id, found in problems.items() if not found]
    if done:
        metrics.WEBHOOK_DELIVERIES.labels(outcome="processed").inc(len(done))
        WebhookDelivery.objects.filter(pk__in=done).update(
            state=WebhookDelivery.State.PROCESSED, processed_at=timezone.now(), error=""
        )
    for delivery_id, found in problems.items():
        if found:
            delivery_finish(delivery_id=delivery_id, problems=found)


def delivery_finish(*, delivery_id: int, problems: list[str]) -> None:
    """Record the outcome of a claimed delivery: processed, or failed (the sweeper retries)."""
    metrics.WEBHOOK_DELIVERIES.labels(outcome="failed" if problems else "processed").inc()
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        state=WebhookDelivery.State.FAILED if problems else WebhookDelivery.State.PROCESSED,
        processed_at=timezone.now(),
        error="\n".join(problems)[:10_000],
    )


class Unrouted:
    """Collects what a delivery could not store as sent, saved in one statement (``save``)."""

    def __init__(self, delivery_id: int) -> None:
        self.delivery_id = delivery_id
        self.events: list[UnroutedEvent] = []

    def keep(
        self,
        reason: str,
        payload: Any,
        *,
        phone_number_id: str = "",
        field_name: str = "",
        kind: str = UnroutedEvent.Kind.UNROUTED,
    ) -> None:
        self.events.append(
            UnroutedEvent(
                delivery_id=self.delivery_id,
                phone_number_id=phone_number_id[:64],
                field=field_name[:64],
                kind=kind,
                reason=reason[:255],
                payload=payload,
            )
        )

    def save(self) -> None:
        UnroutedEvent.objects.bulk_create(self.events)


def delivery_parse(claim: Claim, unrouted: Unrouted) -> dict[str, Part]:
    """The claimed body parsed and split per business phone number.

    Whatever cannot go to a number is given to ``unrouted``: a body that is not a webhook,
    changes we do not type, items without a number, id or sender, rejected items (with their
    reason) and notes on items the parser cleaned. A re-attempt first forgets what an earlier
    attempt kept aside.
    """
    if claim.attempts > 1:
        UnroutedEvent.objects.filter(delivery_id=claim.delivery_id).delete()
    payload: Any = None
    try:
        payload = json.loads(claim.body)
        parsed = parse_webhook(payload, received_at=claim.received_at)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, MalformedWebhook):
            reason, shown = exc.reason, storable_or_excerpt(payload)
        else:
            reason, shown = "body is not JSON", claim.body[:100_000].decode("utf-8", "replace").replace("\x00", "")
        metrics.WEBHOOK_PARSE_FAILURES.labels(reason="not_a_webhook").inc()
        unrouted.keep(f"not a WhatsApp webhook: {reason}", {"body": shown})
        return {}
    for change in parsed.other_changes:
        reason = "not a messages change" if change.field else "unreadable item"
        unrouted.keep(reason, change.raw, field_name=change.field)
    for item in parsed.rejected:
        unrouted.keep(
            f"{item.kind} rejected: {item.reason}",
            item.raw,
            phone_number_id=item.phone_number_id,
            field_name=MESSAGES_FIELD,
            kind=UnroutedEvent.Kind.REJECTED,
        )
    for message in parsed.messages:
        if message.notes:
            unrouted.keep(
                "; ".join(message.notes),
                {"wamid": message.wamid, "timestamp": message.raw.get("timestamp")},
                phone_number_id=message.phone_number_id,
                field_name=MESSAGES_FIELD,
                kind=UnroutedEvent.Kind.CLEANED,
            )
    return _split(parsed, unrouted.keep)


@dataclass
class Part:
    """What one webhook carried for one business phone number."""

    phone_number_id: str
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[WebhookError] = field(default_factory=list)

    def as_payload(self) -> dict[str, Any]:
        contacts = {(m.contact.wa_id, m.contact.user_id): asdict(m.contact) for m in self.messages}
        return {
            "phone_number_id": self.phone_number_id,
            "contacts": list(contacts.values()),
            "messages": [m.raw for m in self.messages],
            "statuses": [s.raw for s in self.statuses],
            "errors": [e.raw for e in self.errors],
        }


def _split(parsed: ParsedWebhook, keep: Callable[..., None]) -> dict[str, Part]:
    parts: dict[str, Part] = {}

    def part(phone_number_id: str) -> Part:
        return parts.setdefault(phone_number_id, Part(phone_number_id))

    for message in parsed.messages:
        if not message.phone_number_id:
            keep("message without metadata.phone_number_id", message.raw, field_name="messages")
        elif not message.wamid:
            keep("message without id", message.raw, phone_number_id=message.phone_number_id)
        elif not (message.contact.wa_id or message.contact.user_id):
            keep("message without sender", message.raw, phone_number_id=message.phone_number_id)
        else:
            part(message.phone_number_id).messages.append(message)
    for status in parsed.statuses:
        if not status.phone_number_id or not status.wamid:
            keep("status without phone_number_id or id", status.raw, phone_number_id=status.phone_number_id)
        else:
            part(status.phone_number_id).statuses.append(status)
    for error in parsed.errors:
        if error.phone_number_id:
            part(error.phone_number_id).errors.append(error)
        else:
            keep(f"webhook error {error.code}: {error.title}", error.raw)
    return parts


def deliveries_due(*, limit: int = SWEEP_BATCH, pending: bool = True) -> list[int]:
    """Ids of deliveries to (re)enqueue: pending ones whose Celery message was lost (unless
    ``pending`` is False), and failed ones whose backoff has passed (until ``MAX_ATTEMPTS``)."""
    params = {"stuck": STUCK_AFTER_SECONDS, "max_attempts": MAX_ATTEMPTS, "limit": limit, "pending": pending}
    with connection.cursor() as cursor:
        cursor.execute(_DUE_SQL, params)
        return [row[0] for row in cursor.fetchall()]


def deliveries_reset(*, delivery_ids: Iterable[int]) -> list[int]:
    """Make deliveries pending again (admin "reprocess"); returns the ids to enqueue."""
    ids = list(delivery_ids)
    WebhookDelivery.objects.filter(pk__in=ids).update(state=WebhookDelivery.State.PENDING, error="")
    return ids


def webhook_periodic_tasks_ensure() -> None:
    """Register the delivery sweeper with django-celery-beat, every 30 s (idempotent).

    ``bizmitra.periodic`` runs it after every migration of the public schema and from
    ``manage.py ensure_periodic_tasks``; beat's DatabaseScheduler then sends
    ``webhook_sweep_task``.
    """
    from bizmitra.periodic import periodic_task_ensure

    periodic_task_ensure(
        name=SWEEP_PERIODIC_TASK,
        task="conversations.whatsapp.tasks.webhook_sweep_task",
        every_seconds=SWEEP_EVERY_SECONDS,
        description="Re-enqueue webhook deliveries whose Celery message was lost; retry failed ones.",
    )
