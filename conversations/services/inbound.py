"""Inbound WhatsApp writes in a tenant's schema: contacts, conversations, messages, media.

``inbound_part_store`` is what ``conversations.whatsapp.ingest`` calls for each tenant's
share of a webhook. Exactly-once comes from the database, not from pre-checks: a message
is unique on its wamid (a redelivery, alone or inside a batch, inserts nothing and
publishes nothing), a conversation is unique per contact, and contacts are created with
an IntegrityError retry, so parallel deliveries of one burst converge on the same rows.
Rows are written in a fixed order (contacts by key, messages by Meta's timestamp then
wamid) so that two deliveries touching the same people cannot deadlock each other.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from bizmitra.events import publish
from conversations.choices import ConversationStatus, Direction, MediaStatus, MessageStatus
from conversations.models import Contact, Conversation, Message
from conversations.services.media import (  # noqa: F401  message_media_* re-exported for older callers
    media_fetch_schedule,
    message_media_failed,
    message_media_fetch,
)
from conversations.services.statuses import status_apply
from conversations.whatsapp.parsing import STATUS_RANK, InboundMessage, StatusUpdate

logger = logging.getLogger(__name__)

_ContactKey = tuple[str, str]


@transaction.atomic
def inbound_part_store(*, messages: Sequence[InboundMessage], statuses: Sequence[StatusUpdate] = ()) -> list[Message]:
    """Store one tenant's messages and apply its statuses; return the messages created.

    Call inside the tenant's schema. Re-runnable: messages already stored are skipped with
    one query, and statuses only move forward.
    """
    created: list[Message] = []
    fresh = _not_stored(messages)
    if fresh:
        conversations = _conversations_for(fresh)
        for inbound in fresh:
            message = message_receive(inbound=inbound, conversation=conversations[_key(inbound)])
            if message is not None:
                created.append(message)
    for update in sorted(statuses, key=lambda s: (s.timestamp, STATUS_RANK.get(s.status, 0))):
        status_apply(update=update)
    return created


def message_receive(*, inbound: InboundMessage, conversation: Conversation) -> Message | None:
    """Insert one inbound message unless its wamid is stored already; None for a duplicate.

    Publishes ``message.received`` and schedules the media download only for a new row.
    """
    message = _message_from(inbound, conversation)
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        if Message.objects.filter(wamid=inbound.wamid).exists():
            return None  # a parallel or earlier delivery stored it first
        raise
    publish(
        "message.received",
        message_id=message.pk,
        conversation_id=conversation.pk,
        contact_id=conversation.contact_id,
    )
    if message.media_status == MediaStatus.PENDING:
        _schedule_media_fetch(message.pk)
    return message


def contact_upsert(*, wa_id: str | None, user_id: str | None, profile_name: str = "", seen_at: datetime) -> Contact:
    """The contact with this phone (``wa_id``) or business-scoped ``user_id``, created if new.

    Moves ``last_inbound_at`` forward only (webhooks arrive out of order) and keeps the
    latest non-empty profile name. Holds the contact's row lock until the transaction ends.
    """
    lookup = Q(pk__in=[])
    if wa_id:
        lookup |= Q(wa_id=wa_id)
    if user_id:
        lookup |= Q(user_id=user_id)
    profile_name = profile_name[:256]
    for _ in range(3):
        matches = list(Contact.objects.filter(lookup)[:2])
        if not matches:
            try:
                with transaction.atomic():
                    return Contact.objects.create(
                        wa_id=wa_id, user_id=user_id, profile_name=profile_name, last_inbound_at=seen_at
                    )
            except IntegrityError:
                continue  # a parallel delivery created this contact first: read it again
        contact = next((c for c in matches if wa_id and c.wa_id == wa_id), matches[0])
        changes: dict = {"last_inbound_at": Greatest(F("last_inbound_at"), Value(seen_at, DateTimeField()))}
        if profile_name:
            changes["profile_name"] = profile_name
        Contact.objects.filter(pk=contact.pk).update(**changes)
        if len(matches) == 1:
            _fill_missing_key(contact, wa_id=wa_id, user_id=user_id)
        return contact
    raise IntegrityError(f"could not create or find the contact {wa_id or user_id}")


def conversation_for_contact(*, contact: Contact, phone_number_id: str, message_at: datetime) -> Conversation:
    """The contact's one conversation, created on first contact; ``last_message_at`` only moves
    forward, and a closed conversation opens again when the customer writes."""
    conversation, created = Conversation.objects.get_or_create(
        contact=contact,
        defaults={"phone_number_id": phone_number_id, "last_message_at": message_at},
    )
    if not created:
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=Greatest(F("last_message_at"), Value(message_at, DateTimeField())),
            status=Case(
                When(status=ConversationStatus.CLOSED, then=Value(ConversationStatus.OPEN)), default=F("status")
            ),
        )
    return conversation


# -- media: the download code lives in conversations.services.media -------------------------


def _schedule_media_fetch(message_id: int) -> None:
    media_fetch_schedule(message_id=message_id)


# -- internals --------------------------------------------------------------------------------


def _not_stored(messages: Sequence[InboundMessage]) -> list[InboundMessage]:
    """Messages whose wamid is not stored yet, once each, in Meta's timestamp order."""
    if not messages:
        return []
    stored = set(Message.objects.filter(wamid__in={m.wamid for m in messages}).values_list("wamid", flat=True))
    fresh: dict[str, InboundMessage] = {}
    for message in messages:
        if message.wamid not in stored:
            fresh.setdefault(message.wamid, message)
    return sorted(fresh.values(), key=lambda m: (m.timestamp, m.wamid))


def _conversations_for(messages: Sequence[InboundMessage]) -> dict[_ContactKey, Conversation]:
    by_contact: dict[_ContactKey, list[InboundMessage]] = defaultdict(list)
    for message in messages:
        by_contact[_key(message)].append(message)
    conversations: dict[_ContactKey, Conversation] = {}
    for key in sorted(by_contact):
        group = by_contact[key]
        latest = max(_when(m.timestamp) for m in group)
        names = [m.contact.profile_name for m in group if m.contact.profile_name]
        contact = contact_upsert(
            wa_id=group[0].contact.wa_id,
            user_id=group[0].contact.user_id,
            profile_name=names[-1] if names else "",
            seen_at=latest,
        )
        conversations[key] = conversation_for_contact(
            contact=contact, phone_number_id=group[0].phone_number_id, message_at=latest
        )
    return conversations


def _key(message: InboundMessage) -> _ContactKey:
    return message.contact.wa_id or "", message.contact.user_id or ""


def _fill_missing_key(contact: Contact, *, wa_id: str | None, user_id: str | None) -> None:
    # A contact first seen by user_id alone (or by phone alone) learns its other key.
    changes = {}
    if wa_id and not contact.wa_id:
        changes["wa_id"] = wa_id
    if user_id and not contact.user_id:
        changes["user_id"] = user_id
    if not changes:
        return
    try:
        with transaction.atomic():
            Contact.objects.filter(pk=contact.pk).update(**changes)
    except IntegrityError:
        logger.warning("contact %s: %s already belongs to another contact", contact.pk, sorted(changes))


def _message_from(inbound: InboundMessage, conversation: Conversation) -> Message:
    media = inbound.media
    error = inbound.errors[0] if inbound.errors else {}
    reaction_to_id = None
    if inbound.type == "reaction" and inbound.reaction_to_wamid:
        # The reacted-to wamid stays in `payload` (Meta's raw message) when it is not stored.
        reaction_to_id = Message.objects.filter(wamid=inbound.reaction_to_wamid).values_list("pk", flat=True).first()
    return Message(
        conversation=conversation,
        direction=Direction.INBOUND,
        type=inbound.type,
        body=inbound.text,
        payload_id=inbound.payload_id[:256],
        payload_title=inbound.payload_title[:256],
        payload=inbound.raw,
        wamid=inbound.wamid,
        context_wamid=inbound.context_wamid[:255],
        reaction_to_id=reaction_to_id,
        status=MessageStatus.RECEIVED,
        timestamp=_when(inbound.timestamp),
        error_code=_int_or_none(error.get("code")),
        error_title=str(error.get("title") or "")[:255],
        error_details=_error_details(error),
        media_id=media.media_id[:128] if media else "",
        media_mime_type=media.mime_type[:128] if media else "",
        media_filename=media.filename[:255] if media else "",
        media_sha256=media.sha256[:128] if media else "",
        media_status=MediaStatus.PENDING if media and media.media_id else MediaStatus.NONE,
    )


def _error_details(error: dict) -> str:
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    return str(details or error.get("details") or error.get("message") or "")


def _when(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp > 0 else timezone.now()


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
