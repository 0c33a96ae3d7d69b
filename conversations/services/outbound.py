"""Outbound WhatsApp messages, the caller's side: validate, queue, retry, mark as read.

Life of an outbound message (every step a conditional UPDATE on the row, so a task that
runs twice, or late, changes nothing):

    message_send ─► queued ─► (message_deliver claims) sending ─► sent ─► (status webhooks)
                      ▲                                   │
                      └── retryable error, backoff ◄──────┤──► failed  (permanent error)
                                                          └──► dead    (attempts used up)

The worker's side (the Graph call, retries, the reconcile sweep) is in
``services.outbound_delivery``. Call everything here inside the tenant's schema.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from bizmitra.db import insert_many
from bizmitra.errors import Conflict, ValidationFailed
from bizmitra.events import publish
from bizmitra.graph_api.payloads import (
    MEDIA_TYPES,
    OutboundValidationError,
    build_message_payload,
    is_allowed_outside_window,
    normalize_recipient,
)
from conversations.choices import Direction, MessageStatus
from conversations.models import Contact, Conversation, Message
from conversations.services.media_links import message_media_link_owe
from tenants.models import PhoneNumber

logger = logging.getLogger(__name__)

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
OPAQUE_PREFIX = "bzm:"
RECONCILE_PERIODIC_TASK = "outbound: reconcile stuck sends"
RECONCILE_EVERY_SECONDS = settings.WHATSAPP_RECONCILE_EVERY_SECONDS


class WindowClosed(ValidationFailed):
    """A free-form message to a contact whose 24-hour customer-service window is closed.

    Meta would refuse it with 131047 (FACTS.md §5); only templates may go.
    """

    code = "window_closed"


class OptedOut(ValidationFailed):
    """A message to a contact who opted out ("stop"): nothing goes until they opt back in.

    Only the engine's opt-out and opt-in confirmations pass (``allow_opted_out=True``).
    """

    code = "opted_out"


class DuplicateMessage(Conflict):
    """The idempotency key was used before; ``message_id`` is the message it created."""

    def __init__(self, *, message_id: int) -> None:
        super().__init__(
            "A message with this idempotency key already exists.",
            extra={"message_id": message_id},
        )
        self.message_id = message_id


def opaque_callback_data(message_id: int) -> str:
    return f"{OPAQUE_PREFIX}{message_id}"


# --- queueing ------------------------------------------------------------------------------


@transaction.atomic
def message_send(
    *,
    to: str,
    type: str,  # noqa: A002 - mirrors Meta's field name
    content: Any,
    idempotency_key: str | None = None,
    sent_by: AbstractBaseUser | None = None,
    context_wamid: str = "",
    conversation: Conversation | None = None,
    allow_opted_out: bool = False,
) -> Message:
    """Validate an outbound message, store it as ``queued`` and enqueue its send on commit.

    ``content`` is Meta's object for ``type`` (a plain string for text). Raises
    ``ValidationFailed`` (a Meta limit, field named), ``WindowClosed`` (free-form outside the
    24 h window), ``OptedOut`` (the contact opted out; only the engine's opt-out/opt-in
    confirmations pass ``allow_opted_out=True``) or ``DuplicateMessage`` (a ``Conflict``:
    the idempotency key was used; ``.message_id`` names the original). Call inside the
    tenant's schema.
    """
    try:
        payload = build_message_payload(to=to, type=type, content=content, context_wamid=context_wamid)
        recipient_key, recipient = normalize_recipient(to)
    except OutboundValidationError as exc:
        raise ValidationFailed(f"Invalid message: {exc.reason}", fields={exc.field: [exc.reason]}) from exc
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not idempotency_key or len(idempotency_key) > 255:
            raise ValidationFailed(
                "Invalid idempotency key.", fields={"idempotency_key": ["must be 1 to 255 characters"]}
            )
        _raise_if_duplicate(idempotency_key)

    conversation = _conversation_for(
        recipient_key=recipient_key, recipient=recipient, message_type=type, conversation=conversation
    )
    if not allow_opted_out:
        _check_opted_in(conversation.contact_id)
    _check_window(conversation.contact, type)

    message = _outbound_row(
        conversation=conversation,
        type=type,
        payload=payload,
        idempotency_key=idempotency_key,
        context_wamid=context_wamid,
        sent_by=sent_by,
        allow_opted_out=allow_opted_out,
    )
    try:
        # A savepoint: a concurrent insert of the same key (the pre-check above cannot see
        # an uncommitted one) surfaces here, and the unique constraint is the real guard.
        with transaction.atomic():
            message.save()
    except IntegrityError:
        if idempotency_key is None:
            raise
        original = Message.objects.filter(idempotency_key=idempotency_key).values_list("pk", flat=True).first()
        if original is None:
            raise
        raise DuplicateMessage(message_id=original) from None

    # The opaque data needs the id; storing it keeps `payload` exactly the body we POST (the
    # engine's fast path saves this statement: its rows get the data when they are sent).
    message.payload = {**payload, "biz_opaque_callback_data": opaque_callback_data(message.pk)}
    message.save(update_fields=["payload"])
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=message.timestamp)

    enqueue_send(message.pk)
    message_media_link_owe(message=message)  # a file sent by link: our copy is fetched in the background
    _publish_queued(message)
    return message


def reply_queue(
    *,
    conversation: Conversation,
    type: str,  # noqa: A002 - mirrors Meta's field name
    content: Any,
    idempotency_key: str,
    allow_opted_out: bool = False,
) -> Message:
    """Store one message of the engine's answer as ``queued``; the engine delivers it itself
    right after its transaction commits (``outbound_delivery.message_deliver``), and the
    reconcile sweep enqueues it if that never happens (worker killed in between).

    The engine's fast path, two statements instead of ``message_send``'s seven. Preconditions
    (the engine's, see ``conversations.engine.services``): inside a transaction, holding the
    conversation's engine lock, ``conversation.contact`` read inside that transaction, and no
    message with ``idempotency_key`` stored (checked by the same read). Raises
    ``ValidationFailed``/``WindowClosed``/``OptedOut`` like ``message_send``.
    """
    message = reply_build(
        conversation=conversation,
        type=type,
        content=content,
        idempotency_key=idempotency_key,
        allow_opted_out=allow_opted_out,
    )
    message.save(force_insert=True)
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=message.timestamp)
    _publish_queued(message)
    return message


def reply_build(
    *,
    conversation: Conversation,
    type: str,  # noqa: A002 - mirrors Meta's field name
    content: Any,
    idempotency_key: str,
    allow_opted_out: bool = False,
) -> Message:
    """``reply_queue``'s checks and row, unsaved: the engine's batched decisions store many
    such rows with one statement (``replies_store``). Same preconditions and errors as
    ``reply_queue``."""
    contact = conversation.contact
    try:
        payload = build_message_payload(to=contact.recipient, type=type, content=content)
    except OutboundValidationError as exc:
        raise ValidationFailed(f"Invalid message: {exc.reason}", fields={exc.field: [exc.reason]}) from exc
    if not allow_opted_out and contact.opted_out_at is not None:
        raise OptedOut(
            "This contact opted out of messages; nothing can be sent until they opt back in.",
            fields={"to": ["opted_out: the contact replied with an opt-out keyword (e.g. 'stop')"]},
        )
    _check_window(contact, type)
    return _outbound_row(
        conversation=conversation,
        type=type,
        payload=payload,
        idempotency_key=idempotency_key,
        allow_opted_out=allow_opted_out,
    )


def replies_store(messages: list[Message]) -> None:
    """Store ``reply_build`` rows of many conversations: one INSERT for the rows, one UPDATE
    of the conversations' ``last_message_at``; ``message.queued`` published after commit.
    Inside the engine's transaction, holding every conversation's lock."""
    if not messages:
        return
    insert_many(Message, messages)
    latest: dict[int, Any] = {}
    for message in messages:
        latest[message.conversation_id] = max(message.timestamp, latest.get(message.conversation_id, message.timestamp))
    _conversations_touch(latest)
    for message in messages:
        _publish_queued(message)


def _conversations_touch(last_message_at: dict[int, Any]) -> None:
    """Move each conversation's ``last_message_at`` forward to the given time (one statement,
    rows in id order). Django's ``bulk_update`` builds a CASE per row and cost an eighth of
    the replies worker under a burst (py-spy, issue 9)."""
    ids = sorted(last_message_at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(Conversation._meta.db_table)} AS conversation"
            " SET last_message_at = GREATEST(conversation.last_message_at, given.at)"
            " FROM unnest(%b::bigint[], %b::timestamptz[]) AS given(id, at) WHERE conversation.id = given.id",
            [ids, [last_message_at[i] for i in ids]],
        )


def _outbound_row(
    *,
    conversation: Conversation,
    type: str,  # noqa: A002 - mirrors Meta's field name
    payload: dict[str, Any],
    idempotency_key: str | None,
    context_wamid: str = "",
    sent_by: AbstractBaseUser | None = None,
    allow_opted_out: bool = False,
) -> Message:
    now = timezone.now()
    return Message(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        type=type,
        body=_summary(type, payload[type]),
        payload=payload,
        context_wamid=context_wamid or "",
        idempotency_key=idempotency_key,
        status=MessageStatus.QUEUED,
        timestamp=now,
        next_attempt_at=now,
        media_id=str(payload[type].get("id", "")) if type in MEDIA_TYPES else "",
        sent_by=sent_by,
        allow_opted_out=allow_opted_out,
    )


def _publish_queued(message: Message) -> None:
    publish(
        "message.queued",
        message_id=message.pk,
        conversation_id=message.conversation_id,
        sent_by_id=message.sent_by_id,
    )


def _raise_if_duplicate(idempotency_key: str) -> None:
    original = Message.objects.filter(idempotency_key=idempotency_key).values_list("pk", flat=True).first()
    if original is not None:
        raise DuplicateMessage(message_id=original)


def _conversation_for(
    *, recipient_key: str, recipient: str, message_type: str, conversation: Conversation | None
) -> Conversation:
    lookup = {"wa_id": recipient.lstrip("+")} if recipient_key == "to" else {"user_id": recipient}
    if conversation is not None:
        contact = conversation.contact
        if getattr(contact, next(iter(lookup))) != next(iter(lookup.values())):
            raise ValidationFailed("Recipient mismatch.", fields={"to": ["is not this conversation's contact"]})
        return conversation

    contact = Contact.objects.filter(**lookup).first()
    if contact is None:
        # Nobody wrote to us from this number yet: the window is closed by definition, so
        # refuse free-form messages before creating anything.
        _check_window(None, message_type)
        contact, _ = Contact.objects.get_or_create(**lookup)
    conversation = Conversation.objects.filter(contact=contact).select_related("contact").first()
    if conversation is None:
        conversation, _ = Conversation.objects.get_or_create(
            contact=contact, defaults={"phone_number_id": _default_phone_number().phone_number_id}
        )
    return conversation


def _default_phone_number() -> PhoneNumber:
    number = (
        PhoneNumber.objects.filter(tenant__schema_name=connection.schema_name, is_active=True).order_by("pk").first()
    )
    if number is None:
        raise ValidationFailed(
            "This business has no active WhatsApp number.", fields={"to": ["no number to send from"]}
        )
    return number


def window_is_open(contact: Contact | None, *, at=None) -> bool:
    """Whether the 24-hour customer-service window with ``contact`` is open (FACTS.md §5)."""
    if contact is None or contact.last_inbound_at is None:
        return False
    return contact.last_inbound_at > (at or timezone.now()) - CUSTOMER_SERVICE_WINDOW


def _check_window(contact: Contact | None, message_type: str) -> None:
    if is_allowed_outside_window(message_type) or window_is_open(contact):
        return
    raise WindowClosed(
        "The 24-hour customer service window with this contact is closed: only templates can be sent.",
        fields={"type": ["window_closed: only 'template' messages can be sent outside the 24-hour window"]},
    )


def _check_opted_in(contact_id: int) -> None:
    # Read from the database, not the caller's instance: an opt-out committed since the
    # caller loaded the contact (the engine's "stop" racing a workflow job) must bind.
    if Contact.objects.filter(pk=contact_id, opted_out_at__isnull=False).exists():
        raise OptedOut(
            "This contact opted out of messages; nothing can be sent until they opt back in.",
            fields={"to": ["opted_out: the contact replied with an opt-out keyword (e.g. 'stop')"]},
        )


def _summary(message_type: str, content: dict[str, Any]) -> str:
    if message_type == "text":
        return content["body"]
    if message_type == "interactive":
        return content["body"]["text"]
    if message_type == "template":
        return content["name"]
    if message_type in MEDIA_TYPES:
        return content.get("caption", "")
    if message_type == "location":
        return content.get("name", "")
    if message_type == "reaction":
        return content.get("emoji", "")
    return ""


def enqueue_send(message_id: int, *, countdown: float = 0.0) -> None:
    """Enqueue a send attempt of ``message_id`` once the current transaction commits."""
    from conversations.tasks.outbound import message_send_task

    # The schema travels in the task headers (tenant-schemas-celery); name it explicitly
    # rather than trusting whatever schema the connection is in when the commit fires.
    headers = {"_schema_name": connection.schema_name}
    options = {"countdown": max(countdown, 0.0)} if countdown else {}
    transaction.on_commit(
        lambda: message_send_task.apply_async(kwargs={"message_id": message_id}, headers=headers, **options)
    )


# `unknown`: a send in doubt that was not resent (outbound_delivery.messages_reconcile); the
# person who checked the conversation sends it again.
_RETRYABLE_STATUSES = (MessageStatus.DEAD, MessageStatus.FAILED, MessageStatus.UNKNOWN)


@transaction.atomic
def message_retry(*, message: Message) -> bool:
    """Put a ``dead``, ``failed`` or ``unknown`` outbound message back in the queue with fresh attempts.

    Returns False when the message is not in one of those states. Raises ``WindowClosed``
    for a free-form message whose window has closed since (Meta would refuse it).
    """
    message = Message.objects.select_related("conversation__contact").get(pk=message.pk)
    if message.direction != Direction.OUTBOUND or message.status not in _RETRYABLE_STATUSES:
        return False
    _check_window(message.conversation.contact, message.type)
    now = timezone.now()
    updated = Message.objects.filter(
        pk=message.pk, status__in=_RETRYABLE_STATUSES, direction=Direction.OUTBOUND
    ).update(
        status=MessageStatus.QUEUED,
        attempts=0,
        # A new send gets a new wamid; late statuses of the old one must not match it.
        wamid=None,
        next_attempt_at=now,
        sending_started_at=None,
        error_code=None,
        error_title="",
        error_details="",
        sent_at=None,
        delivered_at=None,
        read_at=None,
        failed_at=None,
        updated_at=now,
    )
    if not updated:
        return False
    enqueue_send(message.pk)
    publish_status(message, MessageStatus.QUEUED)
    return True


def publish_status(message: Message, status: str) -> None:
    """Tell listeners (the live inbox) that an outbound message changed state, after commit."""
    publish("message.status", message_id=message.pk, conversation_id=message.conversation_id, status=status)


# --- mark as read --------------------------------------------------------------------------


def message_mark_read(*, message: Message) -> None:
    """Tell the customer we read their inbound ``message`` (and every earlier one).

    Goes through the queue: the Graph call happens in ``message_mark_read_task`` after
    commit; the message's ``read_at`` records that it was done.
    """
    if message.direction != Direction.INBOUND or not message.wamid:
        raise ValidationFailed(
            "Only received WhatsApp messages can be marked as read.", fields={"message": ["not inbound"]}
        )
    from conversations.tasks.outbound import message_mark_read_task

    headers = {"_schema_name": connection.schema_name}
    message_id = message.pk
    transaction.on_commit(
        lambda: message_mark_read_task.apply_async(kwargs={"message_id": message_id}, headers=headers)
    )


def outbound_periodic_tasks_ensure() -> None:
    """Register the reconcile job with django-celery-beat (idempotent; call at startup)."""
    from bizmitra.periodic import periodic_task_ensure

    periodic_task_ensure(
        name=RECONCILE_PERIODIC_TASK,
        task="conversations.tasks.outbound.outbound_reconcile_task",
        every_seconds=RECONCILE_EVERY_SECONDS,
        description="Settle outbound WhatsApp sends whose worker died (services/outbound_delivery.py).",
    )
