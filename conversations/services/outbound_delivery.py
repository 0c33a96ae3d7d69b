"""Outbound WhatsApp messages, the worker's side: send through the Graph API, retry, reconcile.

Meta has no idempotency key (FACTS.md §2), so a worker that dies between Meta's answer
and our UPDATE leaves a row in ``sending`` that may or may not have gone out. Such rows are
never resent blindly: the send carries ``biz_opaque_callback_data = "bzm:<id>"``, Meta
echoes it in the status webhooks, and ``statuses.status_apply`` adopts the wamid. A row
still without wamid and status after ``WHATSAPP_SEND_STUCK_AFTER_SECONDS`` is settled by
``messages_reconcile``: reconciled first (a parked status with our opaque data gives the
wamid); with no evidence either way a template is sent again, while every other message
(free-text replies, media, buttons) becomes ``unknown`` ("Unknown — check", shown in the
inbox and the admin) rather than risk the customer getting it twice.

The tasks in ``conversations.tasks.outbound`` call these; call them inside the tenant's
schema. The caller's side (``message_send``) is ``services.outbound``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from bizmitra import metrics
from bizmitra.graph_api.client import GraphApiError, GraphClient, GraphError, GraphTransportError
from conversations.choices import Direction, MessageStatus
from conversations.models import Contact, Conversation, Message, PendingStatus
from conversations.ratelimit import (
    PAIR_RATE_LIMIT_CODE,
    PairBackoff,
    ThroughputLimiter,
    phone_number_limiter_name,
    phone_number_rate,
)
from conversations.services.outbound import enqueue_send, opaque_callback_data, publish_status
from conversations.services.statuses import pending_statuses_apply, pending_statuses_apply_many
from tenants.models import PhoneNumber

logger = logging.getLogger(__name__)


# --- sending (runs in the worker) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one ``message_deliver`` call did; ``retry_in`` (seconds) asks for another run."""

    result: str
    retry_in: float | None = None


def message_deliver(*, message_id: int, max_wait: float | None = None) -> DeliveryOutcome:
    """Make one send attempt of a queued outbound message.

    Order matters: the claim ``queued → sending`` first (a duplicate or late task stops
    there; so does a contact who opted out since the message was queued), then a
    throughput slot (none within ``max_wait``, default ``WHATSAPP_THROUGHPUT_MAX_WAIT_SECONDS``:
    the claim is handed back and ``retry_in`` says when to come again), then the Graph call,
    then the result in one conditional UPDATE. Not atomic on purpose: the claim must be
    committed before the network call so that a crash leaves a visible ``sending`` row.
    """
    message = (
        Message.objects.filter(pk=message_id, direction=Direction.OUTBOUND)
        .select_related("conversation__contact")
        .first()
    )
    if message is None or message.status != MessageStatus.QUEUED or message.wamid:
        return DeliveryOutcome("skipped")
    if message.conversation.contact.opted_out_at is not None and not message.allow_opted_out:
        return _refuse_opted_out(message_id)
    phone_number_id = message.conversation.phone_number_id
    number = _sending_number(phone_number_id)
    if number is None or not number.is_active:
        if _claim(message_id):
            _record_failure(message_id, code=None, title="No active phone number", details=phone_number_id)
            return DeliveryOutcome("failed")
        return DeliveryOutcome("skipped")

    if not _claim(message_id):
        # The claim also refuses a contact who opted out a moment ago ("stop" racing this send).
        return _refuse_opted_out(message_id) if _opted_out_since(message_id) else DeliveryOutcome("skipped")
    # What the claim changed, without reading the row again (only claims change attempts).
    message.status, message.attempts = MessageStatus.SENDING, message.attempts + 1
    attempt = _attempt(message, number, max_wait=max_wait)
    return _settle(message, attempt)


def messages_deliver(*, message_ids: list[int], max_wait: float | None = None) -> list[DeliveryOutcome]:
    """``message_deliver`` for many queued messages at once (the engine's replies to a batch
    of decisions, issue 9); returns one outcome per id, in order.

    The same steps with the round trips shared: the messages are read and claimed with one
    statement each, the Graph calls go out concurrently on the send threads
    (``WHATSAPP_SEND_CONCURRENCY``) — the messages of one conversation one after the other,
    in order, and none after one that will be tried again — and the sent ones are recorded
    with one statement. Everything else (a refusal, an error, a rate limit) is settled row
    by row exactly as ``message_deliver`` does. No database work happens on the send threads.
    """
    if len(message_ids) < 2:
        return [message_deliver(message_id=message_id, max_wait=max_wait) for message_id in message_ids]
    messages = {
        message.pk: message
        for message in Message.objects.filter(pk__in=message_ids, direction=Direction.OUTBOUND).select_related(
            "conversation__contact"
        )
    }
    outcomes: dict[int, DeliveryOutcome] = {}
    ready: list[tuple[Message, PhoneNumber]] = []
    for message_id in dict.fromkeys(message_ids):
        message = messages.get(message_id)
        if message is None or message.status != MessageStatus.QUEUED or message.wamid:
            outcomes[message_id] = DeliveryOutcome("skipped")
        elif message.conversation.contact.opted_out_at is not None and not message.allow_opted_out:
            outcomes[message_id] = _refuse_opted_out(message_id)
        else:
            number = _sending_number(message.conversation.phone_number_id)
            if number is None or not number.is_active:
                outcomes[message_id] = message_deliver(message_id=message_id, max_wait=max_wait)
            else:
                ready.append((message, number))
    claimed = _claim_many([message.pk for message, _ in ready])
    lanes: dict[int, list[tuple[Message, PhoneNumber]]] = {}
    for message, number in ready:
        if message.pk not in claimed:
            outcomes[message.pk] = (
                _refuse_opted_out(message.pk) if _opted_out_since(message.pk) else DeliveryOutcome("skipped")
            )
            continue
        message.status, message.attempts = MessageStatus.SENDING, message.attempts + 1
        lanes.setdefault(message.conversation_id, []).append((message, number))
    lane_attempts = _send_concurrently(list(lanes.values()), max_wait=max_wait)
    sent = [(message, attempt.wamid) for lane in lane_attempts for message, attempt in lane if attempt.kind == "sent"]
    for message, wamid in sent:
        logger.info("message %s sent as %s", message.pk, wamid, extra={"wamid": wamid})
    _record_sent_many(sent)
    for lane in lane_attempts:
        held_for: float | None = None
        for message, attempt in lane:
            if attempt.kind == "sent":
                outcomes[message.pk] = DeliveryOutcome("sent")
            elif attempt.kind == "held":
                # Behind one of its own answer that will be tried again: it follows that one.
                _unclaim(message.pk)
                outcomes[message.pk] = DeliveryOutcome("held", retry_in=held_for or 0.0)
            else:
                outcomes[message.pk] = _settle(message, attempt)
                if attempt.stops_lane:
                    held_for = outcomes[message.pk].retry_in or 0.0
    return [outcomes[message_id] for message_id in message_ids]


def _send_concurrently(
    lanes: list[list[tuple[Message, PhoneNumber]]], *, max_wait: float | None
) -> list[list[tuple[Message, _Attempt]]]:
    """Each lane (one conversation's messages, in order) on a send thread; a lane stops at
    the first message that will be tried again, the rest marked ``not_tried``."""

    def run_lane(lane: list[tuple[Message, PhoneNumber]]) -> list[tuple[Message, _Attempt]]:
        done: list[tuple[Message, _Attempt]] = []
        stopped = False
        for message, number in lane:
            if stopped:
                done.append((message, _Attempt("held")))
                continue
            try:
                attempt = _attempt(message, number, max_wait=max_wait)
            except Exception as exc:  # a bug must not lose the lane: the call may have gone out
                logger.exception("send of message %s failed unexpectedly", message.pk)
                attempt = _Attempt("transport_error", error=GraphTransportError(str(exc)[:500]))
            done.append((message, attempt))
            stopped = attempt.stops_lane
        return done

    if len(lanes) == 1:
        return [run_lane(lanes[0])]
    # Each lane runs in a copy of this context: its log lines keep the request id and tenant.
    futures = [_send_pool().submit(contextvars.copy_context().run, run_lane, lane) for lane in lanes]
    return [future.result() for future in futures]


_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _send_pool() -> ThreadPoolExecutor:
    # One pool per process, made after the worker forked (threads do not survive a fork).
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=settings.WHATSAPP_SEND_CONCURRENCY, thread_name_prefix="graph-send")
            _pool_pid = os.getpid()
        return _pool


def _claim_many(message_ids: list[int]) -> set[int]:
    """``_claim`` for many rows in one statement; returns the ids claimed."""
    if not message_ids:
        return set()
    now = timezone.now()
    message_table = Message._meta.db_table
    conversation_table = Conversation._meta.db_table
    contact_table = Contact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {message_table} AS m SET status = %s, sending_started_at = %s, attempts = m.attempts + 1,"
            " next_attempt_at = NULL, updated_at = %s"
            f" FROM {conversation_table} AS c JOIN {contact_table} AS ct ON ct.id = c.contact_id"
            " WHERE m.id = ANY(%b) AND c.id = m.conversation_id AND m.status = %s AND m.direction = %s"
            " AND m.wamid IS NULL AND (ct.opted_out_at IS NULL OR m.allow_opted_out)"
            " RETURNING m.id",
            [MessageStatus.SENDING, now, now, message_ids, MessageStatus.QUEUED, Direction.OUTBOUND],
        )
        return {row[0] for row in cursor.fetchall()}


def _record_sent_many(sent: list[tuple[Message, str]]) -> None:
    """``_record_sent`` for many rows: the wamids in one statement, the parked statuses of all
    of them in one transaction; a row that a status webhook reconciled first goes row by row."""
    if not sent:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Message._meta.db_table} AS m SET status = %s, wamid = v.wamid, sent_at = %s,"
            " error_code = NULL, error_title = '', error_details = '', updated_at = %s"
            " FROM unnest(%b::bigint[], %b::text[]) AS v(id, wamid)"
            " WHERE m.id = v.id AND m.status = ANY(%b) AND m.wamid IS NULL RETURNING m.id",
            [
                MessageStatus.SENT,
                now,
                now,
                [message.pk for message, _ in sent],
                [wamid for _, wamid in sent],
                [MessageStatus.SENDING, MessageStatus.QUEUED],
            ],
        )
        updated = {row[0] for row in cursor.fetchall()}
    recorded = []
    for message, wamid in sent:
        if message.pk in updated:
            message.status, message.wamid, message.sent_at = MessageStatus.SENT, wamid, now
            recorded.append(message)
        else:
            _record_sent(message, wamid=wamid)
    pending_statuses_apply_many(messages=recorded)
    for message in recorded:
        publish_status(message, MessageStatus.SENT)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What one claimed message's turn at the Graph API gave: no database in it, so it can
    run on a send thread (``messages_deliver``); ``_settle`` records it."""

    # "sent", "pair_wait", "throttled", "api_error", "transport_error", "not_tried" (the
    # limiter was unreachable) or "held" (behind one of its conversation's messages that
    # stopped the lane: not tried).
    kind: str
    wamid: str = ""
    wait: float = 0.0
    error: GraphError | None = None

    @property
    def stops_lane(self) -> bool:
        """Whether the later messages of the same answer must wait for this one: it will be
        tried again (a retry, a rate limit), and they must not overtake it."""
        if self.kind in ("pair_wait", "throttled", "not_tried", "held"):
            return True
        if self.kind == "api_error":
            return self.error.retryable
        if self.kind == "transport_error":
            return not _in_doubt(self.error)
        return False


def _in_doubt(exc: GraphTransportError) -> bool:
    # No answer after the request went out (timeout, dropped connection): Meta may have it.
    return exc.maybe_processed and (exc.http_status is None or exc.http_status < 400)


def _attempt(message: Message, number: PhoneNumber, *, max_wait: float | None) -> _Attempt:
    """The pair backoff, a throughput slot and the Graph call for one claimed message."""
    phone_number_id = message.conversation.phone_number_id
    payload = {**message.payload, "biz_opaque_callback_data": opaque_callback_data(message.pk)}
    recipient = str(payload.get("to") or message.conversation.contact_id)
    try:
        # Meta's pair rate limit (131056) holds one recipient, not the number: a message to a
        # recipient being backed off waits for that, and nobody else's sends slow down.
        pair_wait = PairBackoff().wait(phone_number_id, recipient)
        if pair_wait > 0:
            return _Attempt("pair_wait", wait=pair_wait)
        # The throughput slot is taken last, right before the call (see ratelimit.acquire).
        reservation = ThroughputLimiter().acquire(
            phone_number_limiter_name(phone_number_id),
            rate=phone_number_rate(number.messages_per_second),
            max_wait=settings.WHATSAPP_THROUGHPUT_MAX_WAIT_SECONDS if max_wait is None else max_wait,
        )
    except Exception:  # Redis trouble before anything went out: hand the claim back
        logger.exception("message %s: no throughput slot (limiter unreachable)", message.pk)
        return _Attempt("not_tried", wait=1.0)
    if not reservation.granted:
        # Not an attempt: hand the row back to the queue; the task returns when a slot is near.
        return _Attempt("throttled", wait=max(reservation.wait, 0.05))
    client = GraphClient(
        base_url=settings.WHATSAPP_GRAPH_URL,
        api_version=settings.WHATSAPP_API_VERSION,
        access_token=number.access_token,
        timeout=settings.WHATSAPP_GRAPH_TIMEOUT_SECONDS,
    )
    try:
        result = client.send_message(phone_number_id, payload)
    except GraphApiError as exc:
        return _Attempt("api_error", error=exc)
    except GraphTransportError as exc:
        return _Attempt("transport_error", error=exc)
    return _Attempt("sent", wamid=result.wamid)


def _settle(message: Message, attempt: _Attempt) -> DeliveryOutcome:
    """Record what ``attempt`` gave on the claimed row (the caller's thread: the database)."""
    message_id = message.pk
    if attempt.kind == "pair_wait":
        _unclaim(message_id, due_in=attempt.wait)
        return DeliveryOutcome("pair_wait", retry_in=attempt.wait)
    if attempt.kind in ("throttled", "not_tried"):
        _unclaim(message_id)
        return DeliveryOutcome(attempt.kind, retry_in=attempt.wait)
    if attempt.kind == "api_error":
        exc = attempt.error
        metrics.graph_error(exc.code)
        if exc.code == PAIR_RATE_LIMIT_CODE:
            phone_number_id = message.conversation.phone_number_id
            recipient = str(message.payload.get("to") or message.conversation.contact_id)
            delay = PairBackoff().hit(phone_number_id, recipient)
            return _record_retryable(
                message, code=exc.code, title=exc.title, details=exc.details or exc.message, delay=delay
            )
        if exc.retryable:
            return _record_retryable(message, code=exc.code, title=exc.title, details=exc.details or exc.message)
        _record_failure(message_id, code=exc.code, title=exc.title, details=exc.details or exc.message)
        return DeliveryOutcome("failed")
    if attempt.kind == "transport_error":
        exc = attempt.error
        metrics.graph_error(None)
        if _in_doubt(exc):
            # Leave the row in `sending` for the status webhook (which carries our opaque
            # data) or, failing that, messages_reconcile to settle.
            Message.objects.filter(pk=message_id, status=MessageStatus.SENDING).update(
                error_title=NO_ANSWER_TITLE, error_details=str(exc)[:2000]
            )
            logger.warning("send of message %s in doubt: %s", message_id, exc)
            return DeliveryOutcome("in_doubt")
        title = f"HTTP {exc.http_status}" if exc.http_status else "Network error"
        return _record_retryable(message, code=None, title=title, details=str(exc))
    logger.info("message %s sent as %s", message_id, attempt.wamid, extra={"wamid": attempt.wamid})
    _record_sent(message, wamid=attempt.wamid)
    return DeliveryOutcome("sent")


NO_ANSWER_TITLE = "No answer from the Graph API"
"""Marks a row whose request went out and got no answer: truly in doubt (``messages_reconcile``)."""

# Numbers change rarely (a token rotated, a number switched off) and are read for every send:
# each process keeps them this long (seconds), and reads the database again after that.
SENDING_NUMBER_TTL = 10.0
_sending_numbers: dict[tuple[str, str], tuple[float, PhoneNumber | None]] = {}


def _sending_number(phone_number_id: str) -> PhoneNumber | None:
    key = (connection.schema_name, phone_number_id)
    cached = _sending_numbers.get(key)
    if cached is not None and time.monotonic() - cached[0] < SENDING_NUMBER_TTL:
        return cached[1]
    # By schema name: under schema_context() connection.tenant is a stand-in without a pk.
    number = PhoneNumber.objects.filter(
        phone_number_id=phone_number_id, tenant__schema_name=connection.schema_name
    ).first()
    _sending_numbers[key] = (time.monotonic(), number)
    return number


def sending_numbers_forget() -> None:
    """Drop the per-process copies of sending numbers (tests that switch a number off)."""
    _sending_numbers.clear()


_NOT_OPTED_OUT = Q(conversation__contact__opted_out_at__isnull=True) | Q(allow_opted_out=True)


def _opted_out_since(message_id: int) -> bool:
    return Message.objects.filter(pk=message_id, status=MessageStatus.QUEUED).exclude(_NOT_OPTED_OUT).exists()


def _refuse_opted_out(message_id: int) -> DeliveryOutcome:
    """A queued message to a contact who opted out before it went: it never goes."""
    now = timezone.now()
    if Message.objects.filter(pk=message_id, status=MessageStatus.QUEUED, wamid__isnull=True).update(
        status=MessageStatus.FAILED,
        error_title="Contact opted out",
        error_details="The contact opted out (e.g. replied 'stop') after this message was queued; it was not sent.",
        failed_at=now,
        updated_at=now,
    ):
        publish_status(Message.objects.get(pk=message_id), MessageStatus.FAILED)
        return DeliveryOutcome("opted_out")
    return DeliveryOutcome("skipped")


def _claim(message_id: int) -> bool:
    now = timezone.now()
    return bool(
        # wamid null too: status_apply may have adopted a wamid for this row (Meta has it).
        Message.objects.filter(
            _NOT_OPTED_OUT, pk=message_id, status=MessageStatus.QUEUED, direction=Direction.OUTBOUND, wamid__isnull=True
        ).update(
            status=MessageStatus.SENDING,
            sending_started_at=now,
            attempts=F("attempts") + 1,
            next_attempt_at=None,
            updated_at=now,
        )
    )


def _unclaim(message_id: int, *, due_in: float = 0.0) -> None:
    Message.objects.filter(pk=message_id, status=MessageStatus.SENDING, wamid__isnull=True).update(
        status=MessageStatus.QUEUED,
        sending_started_at=None,
        attempts=F("attempts") - 1,
        next_attempt_at=timezone.now() + timedelta(seconds=due_in),
        updated_at=timezone.now(),
    )


def _record_sent(message: Message, *, wamid: str) -> None:
    # Not one transaction with pending_statuses_apply: that takes statuses' per-wamid advisory
    # lock, and a status_apply holding it may be waiting on this row's lock (deadlock). The
    # wamid and the status change are one UPDATE; parked statuses follow once it is committed.
    now = timezone.now()
    # `queued` too: if messages_reconcile gave up on a slow worker and re-queued the row,
    # recording the wamid now still stops the second send (its claim will fail).
    message_id = message.pk
    updated = Message.objects.filter(
        pk=message_id, status__in=[MessageStatus.SENDING, MessageStatus.QUEUED], wamid__isnull=True
    ).update(
        status=MessageStatus.SENT,
        wamid=wamid,
        sent_at=now,
        error_code=None,
        error_title="",
        error_details="",
        updated_at=now,
    )
    if updated:
        message.status, message.wamid, message.sent_at = MessageStatus.SENT, wamid, now
    else:
        message = Message.objects.get(pk=message_id)
    if not updated and message.wamid != wamid:
        # A status webhook got here first and reconciled the row; it must name the same send.
        logger.error("message %s: Meta answered wamid %s but the row has %s", message_id, wamid, message.wamid)
        return
    pending_statuses_apply(message=message)
    if updated:
        publish_status(message, MessageStatus.SENT)


def _record_retryable(
    message: Message, *, code: int | None, title: str, details: str, delay: float | None = None
) -> DeliveryOutcome:
    max_attempts = settings.WHATSAPP_SEND_MAX_ATTEMPTS
    now = timezone.now()
    if message.attempts >= max_attempts:
        updated = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING, wamid__isnull=True).update(
            status=MessageStatus.DEAD,
            error_code=code,
            error_title=title[:255],
            error_details=details[:2000],
            failed_at=now,
            updated_at=now,
        )
        if updated:
            logger.warning(
                "message %s dead-lettered after %s attempts: %s %s", message.pk, message.attempts, code, title
            )
            publish_status(message, MessageStatus.DEAD)
        return DeliveryOutcome("dead")
    delay = retry_delay(message.attempts) if delay is None else delay
    updated = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING, wamid__isnull=True).update(
        status=MessageStatus.QUEUED,
        sending_started_at=None,
        next_attempt_at=now + timedelta(seconds=delay),
        error_code=code,
        error_title=title[:255],
        error_details=details[:2000],
        updated_at=now,
    )
    return DeliveryOutcome("retry", retry_in=delay) if updated else DeliveryOutcome("skipped")


def retry_delay(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, with jitter.

    "Equal jitter" (half fixed, half random) spreads a burst of retries without ever
    retrying at once. The cap (``WHATSAPP_SEND_RETRY_MAX_SECONDS``) keeps every countdown
    far below the broker's visibility timeout (shared/celery-notes.md §1). Pair rate limits
    (131056) do not use this: ``ratelimit.PairBackoff`` holds that one recipient instead.
    """
    base = settings.WHATSAPP_SEND_RETRY_BASE_SECONDS
    ceiling = min(settings.WHATSAPP_SEND_RETRY_MAX_SECONDS, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _record_failure(message_id: int, *, code: int | None, title: str, details: str) -> None:
    now = timezone.now()
    updated = Message.objects.filter(pk=message_id, status=MessageStatus.SENDING, wamid__isnull=True).update(
        status=MessageStatus.FAILED,
        error_code=code,
        error_title=title[:255],
        error_details=details[:2000],
        failed_at=now,
        updated_at=now,
    )
    if updated:
        publish_status(Message.objects.get(pk=message_id), MessageStatus.FAILED)


def message_mark_read_deliver(*, message_id: int) -> bool:
    """The Graph call behind ``message_mark_read``; False when there was nothing to do.

    Raises the client's ``GraphError`` for the task's retry policy to judge.
    """
    message = (
        Message.objects.filter(pk=message_id, direction=Direction.INBOUND, read_at__isnull=True)
        .select_related("conversation")
        .first()
    )
    if message is None or not message.wamid:
        return False
    phone_number_id = message.conversation.phone_number_id
    number = _sending_number(phone_number_id)
    if number is None:
        return False
    # Mark-as-read is a POST to /messages too: it spends the number's throughput.
    reservation = ThroughputLimiter().acquire(
        phone_number_limiter_name(phone_number_id),
        rate=phone_number_rate(number.messages_per_second),
        max_wait=settings.WHATSAPP_THROUGHPUT_MAX_WAIT_SECONDS * 5,
    )
    if not reservation.granted:
        raise GraphTransportError("throughput budget exhausted", maybe_processed=False)
    GraphClient(
        base_url=settings.WHATSAPP_GRAPH_URL,
        api_version=settings.WHATSAPP_API_VERSION,
        access_token=number.access_token,
        timeout=settings.WHATSAPP_GRAPH_TIMEOUT_SECONDS,
    ).mark_read(phone_number_id, message.wamid)
    Message.objects.filter(pk=message_id, read_at__isnull=True).update(read_at=timezone.now())
    return True


# --- reconciliation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    adopted: int = 0
    requeued: int = 0
    dead: int = 0
    redispatched: int = 0
    unknown: int = 0


def messages_reconcile(*, stuck_after: timedelta | None = None) -> ReconcileResult:
    """Settle outbound rows that no worker is looking after any more.

    - ``sending`` for longer than ``stuck_after`` with no wamid: the worker died, or the
      call went unanswered. Reconciled before anything is resent: if a status webhook for
      it was parked (``PendingStatus`` with our opaque data), adopt that wamid. Otherwise:
      - the worker saw the request go out and got no answer (``NO_ANSWER_TITLE``): truly
        in doubt, and Meta offers no lookup by our id. A *template* gets a new attempt —
        reminders, codes and order updates are worth more than a rare identical copy;
        anything else (free-text replies, media, buttons) becomes ``unknown``, "Unknown —
        check" in the inbox and the admin, because a reply the customer gets twice looks
        broken while a missing one is noticed and sent again by a person (``message_retry``);
      - the worker vanished (SIGKILL, lost broker) with no status after the whole wait:
        Meta sends ``sent`` within seconds of accepting a message, so after two minutes
        without one the request most likely never left; it gets a new attempt (or is
        dead-lettered if none is left).
      A status that arrives later still adopts the row and moves it on
      (``statuses.status_apply``).
    - ``queued`` but due longer than ``stuck_after`` ago: its task was lost (broker
      restart, crash between commit and enqueue); enqueue it again — the claim makes a
      duplicate task harmless.

    Rows that a status webhook reconciled meanwhile are no longer ``sending`` without a
    wamid, so they are left alone. Call inside the tenant's schema.
    """
    stuck_after = (
        stuck_after if stuck_after is not None else timedelta(seconds=settings.WHATSAPP_SEND_STUCK_AFTER_SECONDS)
    )
    now = timezone.now()
    cutoff = now - stuck_after
    adopted = requeued = dead = redispatched = 0

    stuck = Message.objects.filter(
        direction=Direction.OUTBOUND,
        status=MessageStatus.SENDING,
        wamid__isnull=True,
        sending_started_at__lt=cutoff,
    ).values_list("pk", "attempts", "type", "error_title", "sending_started_at")
    unknown = 0
    for message_id, attempts, message_type, error_title, started_at in stuck:
        in_doubt = error_title == NO_ANSWER_TITLE and message_type not in RESEND_IN_DOUBT_TYPES
        outcome = _reconcile_stuck(
            message_id,
            attempts=attempts,
            in_doubt=in_doubt,
            cutoff=cutoff,
            evidence_may_wait=_webhooks_unread(started_at),
        )
        adopted += outcome == "adopted"
        requeued += outcome == "requeued"
        dead += outcome == "dead"
        unknown += outcome == "unknown"

    # A queued row's task is lost sooner than a send is in doubt: a shorter wait of its own.
    queued_cutoff = now - (
        stuck_after if stuck_after is not None else timedelta(seconds=settings.WHATSAPP_SEND_QUEUED_STUCK_AFTER_SECONDS)
    )
    overdue = Message.objects.annotate(due=Coalesce("next_attempt_at", "created_at")).filter(
        direction=Direction.OUTBOUND, status=MessageStatus.QUEUED, due__lt=queued_cutoff
    )
    for message_id in overdue.values_list("pk", flat=True):
        with transaction.atomic():
            # Bumping next_attempt_at gives each row at most one extra task per period.
            if Message.objects.filter(pk=message_id, status=MessageStatus.QUEUED).update(next_attempt_at=now):
                enqueue_send(message_id)
                redispatched += 1
    return ReconcileResult(adopted=adopted, requeued=requeued, dead=dead, redispatched=redispatched, unknown=unknown)


RESEND_IN_DOUBT_TYPES = frozenset({"template"})
"""Message types sent again when a send is in doubt with no evidence (see ``messages_reconcile``)."""


def _webhooks_unread(since) -> bool:
    """Whether webhooks received since ``since`` are still waiting to be processed: the status
    that settles a send may be among them (a backlog after a restart), so no verdict yet."""
    from conversations.whatsapp.models import WebhookDelivery

    return WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING, received_at__gte=since).exists()


def _reconcile_stuck(message_id: int, *, attempts: int, in_doubt: bool, cutoff, evidence_may_wait: bool) -> str:
    # Each UPDATE commits on its own (see _record_sent for why the adoption must not share a
    # transaction with pending_statuses_apply).
    still_stuck = Q(pk=message_id, status=MessageStatus.SENDING, wamid__isnull=True, sending_started_at__lt=cutoff)
    parked = (
        PendingStatus.objects.filter(biz_opaque_callback_data=opaque_callback_data(message_id))
        .order_by("timestamp", "pk")
        .first()
    )
    now = timezone.now()
    if parked is not None:
        if Message.objects.filter(still_stuck).update(
            status=MessageStatus.SENT,
            wamid=parked.wamid,
            sent_at=parked.timestamp,
            error_title="",
            error_details="",
            updated_at=now,
        ):
            message = Message.objects.get(pk=message_id)
            pending_statuses_apply(message=message)
            return "adopted"
        return "skipped"
    if evidence_may_wait:
        return "skipped"
    if in_doubt:
        if Message.objects.filter(still_stuck).update(
            status=MessageStatus.UNKNOWN,
            error_title="Unknown — check: Meta's answer was lost",
            error_details=(
                "The send went out but no answer and no status came back, so it may or may not "
                "have reached the customer. It was not sent again, to avoid a duplicate: check "
                "the conversation and send it again if it is missing."
            ),
            updated_at=now,
        ):
            logger.warning("message %s: send in doubt with no status; marked unknown, not resent", message_id)
            publish_status(Message.objects.get(pk=message_id), MessageStatus.UNKNOWN)
            return "unknown"
        return "skipped"
    if attempts >= settings.WHATSAPP_SEND_MAX_ATTEMPTS:
        if Message.objects.filter(still_stuck).update(
            status=MessageStatus.DEAD,
            error_title="Send attempt never completed",
            failed_at=now,
            updated_at=now,
        ):
            publish_status(Message.objects.get(pk=message_id), MessageStatus.DEAD)
            return "dead"
        return "skipped"
    if Message.objects.filter(still_stuck).update(
        status=MessageStatus.QUEUED, sending_started_at=None, next_attempt_at=now, updated_at=now
    ):
        logger.warning("message %s was stuck in sending without an answer; sending it again", message_id)
        enqueue_send(message_id)
        return "requeued"
    return "skipped"
