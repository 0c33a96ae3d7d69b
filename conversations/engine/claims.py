"""Who handles an inbound message, and in what order: the conversation lock, the claim row,
and the sweep of work still owed.

The database, not the broker, is the source of truth for what is owed: every inbound
message gets exactly one ``EngineDecision``, so a message without a finished decision is
work still to do, whatever happened to its Celery task (a worker killed mid-decision, a
Redis restart that lost the queue). ``messages_owed`` finds them for the sweeper; the
claim row and the reply idempotency keys make running one twice harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from conversations.choices import Direction
from conversations.models import EngineDecision, Message

logger = logging.getLogger(__name__)

# Longest wait for the previous message of the same conversation (an AI answer may take 20 s+).
CONVERSATION_LOCK_WAIT_SECONDS = 90.0
# Inbound messages older than this are no longer answered by a sweep: the customer-service
# window (24 h) has closed, a free-form answer could not go anyway.
OWED_HORIZON = timedelta(hours=24)


def claim_stale_after() -> timedelta:
    """A claim this old belongs to a worker that died (or lost its database) mid-decision:
    a later run may take it over. Longer than the AI timeout, so a slow answer is not
    taken over while it is still coming."""
    return timedelta(seconds=settings.ENGINE_CLAIM_STALE_SECONDS)


def decision_claim(message: Message) -> EngineDecision | None:
    """Insert the message's decision row as the claim (committed at once, outside any
    transaction); None when another run holds a fresh claim or the message is decided."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return EngineDecision.objects.create(
                message=message, conversation_id=message.conversation_id, claimed_at=now
            )
    except IntegrityError:
        pass
    taken = EngineDecision.objects.filter(
        message=message, finished_at__isnull=True, claimed_at__lt=now - claim_stale_after()
    ).update(claimed_at=now)
    if taken:
        logger.warning("message %s: took over a stale engine claim", message.pk)
    return EngineDecision.objects.get(message=message) if taken else None


def lock_key(conversation_id: int) -> str:
    return f"engine:{connection.schema_name}:{conversation_id}"


def conversation_lock_for_transaction(conversation_id: int) -> bool:
    """Take the conversation's engine lock until the current transaction ends (fast path).

    A transaction-level advisory lock, not a row lock, so the webhook ingest never waits for
    it; released by COMMIT or ROLLBACK, and with the session when a worker dies. Waits up
    to ``CONVERSATION_LOCK_WAIT_SECONDS``, then goes on without it (logged): a stuck holder
    must not silence the conversation. Call inside ``transaction.atomic()``.
    """
    return _acquire(conversation_id, "pg_try_advisory_xact_lock")


def conversation_lock_keep(conversation_id: int) -> bool:
    """Also hold the lock for the session, past the transaction (the slow path takes over
    from the fast one without letting the next message of the conversation in between;
    advisory locks are re-entrant within a session, so this is immediate). Release with
    ``conversation_unlock``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [lock_key(conversation_id)])
        return bool(cursor.fetchone()[0])


def conversation_unlock(conversation_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [lock_key(conversation_id)])


@contextmanager
def conversation_lock(conversation_id: int) -> Iterator[bool]:
    """Handle one message of a conversation at a time, for the whole session (slow path);
    yields whether the lock was taken."""
    acquired = _acquire(conversation_id, "pg_try_advisory_lock")
    try:
        yield acquired
    finally:
        if acquired:
            conversation_unlock(conversation_id)


def _acquire(conversation_id: int, function: str) -> bool:
    key = lock_key(conversation_id)
    deadline = time.monotonic() + CONVERSATION_LOCK_WAIT_SECONDS
    with connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT {function}(hashtextextended(%s, 0))", [key])
            if cursor.fetchone()[0]:
                return True
            if time.monotonic() > deadline:
                logger.warning(
                    "conversation %s still busy after %ss; handling anyway",
                    conversation_id,
                    CONVERSATION_LOCK_WAIT_SECONDS,
                )
                return False
            time.sleep(0.02)


def messages_owed(*, older_than: timedelta, limit: int = 1000) -> list[tuple[int, int]]:
    """``(message_id, conversation_id)`` of inbound messages still owed a decision, oldest first.

    Owed: received within ``OWED_HORIZON``, more than ``older_than`` ago (their first run
    had its chance), and with no decision or only a stale, unfinished claim.
    """
    now = timezone.now()
    finished_or_fresh = EngineDecision.objects.filter(message=OuterRef("pk")).filter(
        Q(finished_at__isnull=False) | Q(claimed_at__gte=now - claim_stale_after())
    )
    rows = (
        Message.objects.filter(
            direction=Direction.INBOUND,
            created_at__gte=now - OWED_HORIZON,
            created_at__lt=now - older_than,
        )
        .filter(~Exists(finished_or_fresh))
        .order_by("created_at", "id")
        .values_list("pk", "conversation_id")[:limit]
    )
    return list(rows)
