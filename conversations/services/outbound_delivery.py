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

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from bizmitra import metrics
from bizmitra.graph_api.client import GraphApiError, GraphClient, GraphTransportError
from conversations.choices import Direction, MessageStatus
from conversations.models import Message, PendingStatus
from conversations.ratelimit import (
    PAIR_RATE_LIMIT_CODE,
    PairBackoff,
    ThroughputLimiter,
    phone_number_limiter_name,
    phone_number_rate,
)
from conversations.services.outbound import enqueue_send, opaque_callback_data, publish_status
from conversations.services.statuses import pending_statuses_apply
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
    client = GraphClient(
        base_url=settings.WHATSAPP_GRAPH_URL,
        api_version=settings.WHATSAPP_API_VERSION,
        access_token=number.access_token,
        timeout=settings.WHATSAPP_GRAPH_TIMEOUT_SECONDS,
    )
    payload = {**message.payload, "biz_opaque_callback_data": opaque_callback_data(message_id)}
    recipient = str(payload.get("to") or message.conversation.contact_id)
    # Meta's pair rate limit (131056) holds one recipient, not the number: a message to a
    # recipient being backed off waits for that, and nobody else's sends slow down.
    pair_wait = PairBackoff().wait(phone_number_id, recipient)
    if pair_wait > 0:
        _unclaim(message_id, due_in=pair_wait)
        return DeliveryOutcome("pair_wait", retry_in=pair_wait)
    # The throughput slot is taken last, right before the call (see ratelimit.acquire).
    reservation = ThroughputLimiter().acquire(
        phone_number_limiter_name(phone_number_id),
        rate=phone_number_rate(number.messages_per_second),
        max_wait=settings.WHATSAPP_THROUGHPUT_MAX_WAIT_SECONDS if max_wait is None else max_wait,
    )
    if not reservation.granted:
        # Not an attempt: hand the row back to the queue; the task returns when a slot is near.
        _unclaim(message_id)
        return DeliveryOutcome("throttled", retry_in=max(reservation.wait, 0.05))
    try:
        result = client.send_message(phone_number_id, payload)
    except GraphApiError as exc:
        metrics.graph_error(exc.code)
        if exc.code == PAIR_RATE_LIMIT_CODE:
            delay = PairBackoff().hit(phone_number_id, recipient)
            return _record_retryable(
                message, code=exc.code, title=exc.title, details=exc.details or exc.message, delay=delay
            )
        if exc.retryable:
            return _record_retryable(message, code=exc.code, title=exc.title, details=exc.details or exc.message)
        _record_failure(message_id, code=exc.code, title=exc.title, details=exc.details or exc.message)
        return DeliveryOutcome("failed")
    except GraphTransportError as exc:
        metrics.graph_error(None)
        if exc.maybe_processed and (exc.http_status is None or exc.http_status < 400):
            # No answer after the request went out (timeout, dropped connection): Meta may
            # have accepted it. Leave the row in `sending` for the status webhook (which
            # carries our opaque data) or, failing that, messages_reconcile to settle.
            Message.objects.filter(pk=message_id, status=MessageStatus.SENDING).update(
                error_title=NO_ANSWER_TITLE, error_details=str(exc)[:2000]
            )
            logger.warning("send of message %s in doubt: %s", message_id, exc)
            return DeliveryOutcome("in_doubt")
        title = f"HTTP {exc.http_status}" if exc.http_status else "Network error"
        return _record_retryable(message, code=None, title=title, details=str(exc))
    logger.info("message %s sent as %s", message_id, result.wamid, extra={"wamid": result.wamid})
    _record_sent(message, wamid=result.wamid)
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
