"""Inbound WhatsApp writes in a tenant's schema: contacts, conversations, messages, media.

``inbound_delivery_process`` (the Celery task's service) routes a stored delivery: the
channel (``conversations.whatsapp.ingest``) claims and parses it, this module finds each
part's tenant and calls ``inbound_part_store`` inside ``tenant_context``. One message that
cannot be stored never sinks its neighbours (issue 13 §0): the parser already cleaned or
rejected what it could see, and when the part's bulk statements still fail the part is
stored again message by message, each one the database refuses becoming a rejected
``UnroutedEvent`` with the reason (the delivery is done, not retried forever). A lost
database connection is not a rejection: the delivery fails and the sweeper retries it.

``inbound_part_store`` is what is called for each tenant's share of a webhook. A part costs
a fixed number of statements whatever its size (issue 9:
a burst is stored at thousands of messages a second, not row by row): one read of the
wamids already stored, one multi-row upsert each for contacts, conversations and messages
(``bizmitra.db.insert_on_conflict``), one read of reaction targets when there are
reactions, then the statuses. Exactly-once comes from the database, not from the
pre-check: messages are inserted with ``ON CONFLICT (wamid) DO NOTHING RETURNING``, and
only the rows that statement really inserted get events and media downloads, so a
redelivery, alone, inside a batch or in parallel, publishes nothing twice. A conversation
is unique per contact and contacts are upserted on their keys, so parallel deliveries of
one burst converge on the same rows. Rows are written in a fixed order (contacts with a
phone by ``wa_id``, then those known only by ``user_id``; conversations by contact id;
messages by Meta's timestamp then wamid) so that two deliveries touching the same people
cannot deadlock each other.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Case, DateTimeField, F, IntegerField, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone
from django_tenants.utils import tenant_context

from bizmitra.db import GREATEST, NEW_UNLESS_EMPTY, OLD_UNLESS_NULL, insert_on_conflict
from bizmitra.events import publish
from bizmitra.request_id import delivery_context, log_context
from conversations.choices import ConversationStatus, Direction, MediaStatus, MessageStatus
from conversations.models import Contact, Conversation, Message
from conversations.services.media import (  # noqa: F401  message_media_* re-exported for older callers
    media_fetch_schedule,
    message_media_failed,
    message_media_fetch,
)
from conversations.services.statuses import statuses_apply
from conversations.whatsapp.ingest import (
    Claim,
    Part,
    Unrouted,
    deliveries_claim,
    deliveries_finish,
    delivery_claim,
    delivery_finish,
    delivery_parse,
)
from conversations.whatsapp.models import UnroutedEvent
from conversations.whatsapp.parsing import MESSAGES_FIELD, InboundMessage, StatusUpdate
from tenants.models import PhoneNumber

logger = logging.getLogger(__name__)

_ITEM_REFUSED = (DataError, IntegrityError, ValueError, OverflowError, TypeError)
"""Errors a value of one message can cause. Any other (the database unreachable, a tenant's
tables missing) says nothing about the message: the delivery fails and is retried."""


def inbound_delivery_process(*, delivery_id: int) -> bool:
    """Claim a stored delivery and write what it carries into the tenants' schemas.

    Returns False when there was nothing to do (already processed, being processed by
    another worker, or gone). Holds the delivery's row lock until done. Each tenant's part
    runs in its own savepoint: a part that fails for want of the database is recorded in
    ``error`` (state ``failed``, retried by the sweeper) without undoing the others.
    Reprocessing is harmless: messages are unique on wamid and statuses only move forward.
    """
    with transaction.atomic():
        claim = delivery_claim(delivery_id=delivery_id)
        if claim is None:
            return False
        delivery_finish(delivery_id=delivery_id, problems=_delivery_route_guarded(claim))
    return True


def _delivery_route(claim: Claim) -> list[str]:
    unrouted = Unrouted(claim.delivery_id)
    parts = delivery_parse(claim, unrouted)
    problems = inbound_parts_route(parts=parts, unrouted=unrouted)
    unrouted.save()
    return problems


def inbound_parts_route(*, parts: dict[str, Part], unrouted: Unrouted) -> list[str]:
    """Store each part in its tenant's schema; return the problems that warrant a retry.

    Parts of unknown or inactive numbers, Meta's ``value.errors`` and the messages or
    statuses the database refuses go to ``unrouted`` (saved by the caller).
    """
    numbers = _numbers(parts)
    problems: list[str] = []
    for phone_number_id in sorted(parts):
        part = parts[phone_number_id]
        number = _routable(numbers.get(phone_number_id), part, unrouted)
        if number is not None:
            problems += _part_store(number, part, unrouted)
    return problems


def inbound_deliveries_process(*, delivery_ids: list[int], take_pending: int = 0) -> int:
    """Claim stored deliveries together and write what they carry; return how many were claimed.

    ``take_pending``: claim up to that many other pending deliveries as well (the relay's
    tasks do, so the first worker free takes a burst's backlog in one go).

    The relay announces webhooks in batches, and under load most are one-status webhooks
    (Meta sends one per status): one by one, each cost its own claim, transaction and status
    lock, and the chaos bench's tail was thousands of them (issue 13 §1). Together: one claim
    statement, each body parsed on its own, then per tenant all their messages stored and all
    their statuses applied at once (``inbound_part_store``: a fixed number of statements), and
    one statement marks them processed. A failure never spreads (issue 13 §0): when a tenant's
    combined store fails, that tenant's share of each delivery is stored again on its own (and
    item by item when the database refuses it), as ``inbound_delivery_process`` would; when
    anything else fails, every delivery of the batch is processed on its own. Holds the
    deliveries' row locks until done.
    """
    # Entered before the transaction, left after it: the events (and so the engine's tasks)
    # are published at the commit, and carry the webhook's request id when there is one.
    with ExitStack() as context, transaction.atomic():
        claims = deliveries_claim(delivery_ids=delivery_ids, take_pending=take_pending)
        if not claims:
            return 0
        if len(claims) == 1:
            context.enter_context(delivery_context(claims[0].delivery_id))
            problems = {claims[0].delivery_id: _delivery_route_guarded(claims[0])}
        else:
            started = time.perf_counter()
            context.enter_context(log_context(delivery_id=f"{claims[0].delivery_id}+{len(claims) - 1}"))
            try:
                with transaction.atomic():
                    problems = _deliveries_route(claims)
                logger.info(
                    "webhook deliveries %s handled together in %.1fms",
                    [c.delivery_id for c in claims],
                    (time.perf_counter() - started) * 1000,
                )
            except Exception:  # one delivery's surprise must not sink the others: each on its own
                logger.exception("webhook deliveries %s failed together; one by one", [c.delivery_id for c in claims])
                problems = {}
                for claim in claims:
                    with delivery_context(claim.delivery_id):
                        problems[claim.delivery_id] = _delivery_route_guarded(claim)
        deliveries_finish(problems=problems)
    return len(claims)


def _delivery_route_guarded(claim: Claim) -> list[str]:
    try:
        with transaction.atomic():
            return _delivery_route(claim)
    except Exception as exc:  # recorded on the delivery and retried; never lost
        logger.exception("webhook delivery %s could not be processed", claim.delivery_id)
        return [f"{type(exc).__name__}: {exc}"]


def _deliveries_route(claims: list[Claim]) -> dict[int, list[str]]:
    parsed = []
    for claim in claims:
        unrouted = Unrouted(claim.delivery_id)
        parsed.append((claim, unrouted, delivery_parse(claim, unrouted)))
    named = {phone_number_id for _, _, parts in parsed for phone_number_id in parts}
    numbers = _numbers(named)
    problems: dict[int, list[str]] = {claim.delivery_id: [] for claim in claims}
    for phone_number_id in sorted(named):
        shares = []  # (delivery's problems, its unrouted, its part) for this number
        for claim, unrouted, parts in parsed:
            part = parts.get(phone_number_id)
            if part is not None and _routable(numbers.get(phone_number_id), part, unrouted) is not None:
                shares.append((problems[claim.delivery_id], unrouted, part))
        if not shares:
            continue
        number = numbers[phone_number_id]
        try:
            with transaction.atomic(), tenant_context(number.tenant):
                inbound_part_store(
                    messages=[m for _, _, part in shares for m in part.messages],
                    statuses=[s for _, _, part in shares for s in part.statuses],
                )
        except Exception:
            logger.warning("parts for %s refused together; storing each delivery's own", phone_number_id, exc_info=True)
            for found, unrouted, part in shares:
                found += _part_store(number, part, unrouted)
    UnroutedEvent.objects.bulk_create([event for _, unrouted, _ in parsed for event in unrouted.events])
    return problems


def _numbers(parts: Iterable[str]) -> dict[str, PhoneNumber]:
    return {
        n.phone_number_id: n
        for n in PhoneNumber.objects.select_related("tenant").filter(phone_number_id__in=list(parts))
    }


def _routable(number: PhoneNumber | None, part: Part, unrouted: Unrouted) -> PhoneNumber | None:
    """``number`` when ``part`` has something to store there; else None, with what cannot be
    routed (an unknown or inactive number, Meta's ``value.errors``) given to ``unrouted``."""
    phone_number_id = part.phone_number_id
    if number is None or not number.is_active or not number.tenant.is_active:
        reason = "unknown phone_number_id" if number is None else "phone number or tenant inactive"
        unrouted.keep(reason, part.as_payload(), phone_number_id=phone_number_id, field_name=MESSAGES_FIELD)
        return None
    for error in part.errors:
        logger.warning("meta reported error %s (%s) for %s", error.code, error.title, phone_number_id)
        unrouted.keep(f"webhook error {error.code}: {error.title}", error.raw, phone_number_id=phone_number_id)
    if not part.messages and not part.statuses:
        return None
    return number


def _part_store(number: PhoneNumber, part: Part, unrouted: Unrouted) -> list[str]:
    """Store one part in its own savepoint; item by item when the database refuses it in bulk."""
    try:
        try:
            # The part's savepoint is the bulk statements' too: a good part costs nothing more.
            with transaction.atomic(), tenant_context(number.tenant):
                inbound_part_store(messages=part.messages, statuses=part.statuses)
        except _ITEM_REFUSED:
            logger.warning("part for %s refused in bulk; storing it item by item", part.phone_number_id, exc_info=True)
            with tenant_context(number.tenant):
                _part_store_each(part, unrouted)
    except Exception as exc:  # this tenant's part only; the others stay stored
        logger.exception("webhook part for %s failed", part.phone_number_id)
        return [f"{part.phone_number_id} ({number.tenant.schema_name}): {type(exc).__name__}: {exc}"]
    return []


def _part_store_each(part: Part, unrouted: Unrouted) -> None:
    items: list[tuple[str, InboundMessage | StatusUpdate]] = [("message", m) for m in part.messages]
    items += [("status", s) for s in part.statuses]
    for kind, item in items:
        try:
            with transaction.atomic():
                if kind == "message":
                    inbound_part_store(messages=[item])
                else:
                    inbound_part_store(messages=(), statuses=[item])
        except _ITEM_REFUSED as exc:  # this item only: the database refused it
            logger.warning("%s %s rejected: %s", kind, item.wamid[:80], exc)
            unrouted.keep(
                f"{kind} rejected by the database: {type(exc).__name__}: {exc}",
                item.raw,
                phone_number_id=part.phone_number_id,
                field_name=MESSAGES_FIELD,
                kind=UnroutedEvent.Kind.REJECTED,
            )


_ContactKey = tuple[str, str]
"""(wa_id or "", user_id or ""): how one inbound message names its sender."""

# A closed conversation opens again when the customer writes; other states are kept.
_REOPEN = ("CASE WHEN {old} = %s THEN %s ELSE {old} END", (ConversationStatus.CLOSED, ConversationStatus.OPEN))


# Nested in ingest's per-part savepoint, a savepoint of its own would only cost two more
# statements per part; called alone, it still runs in one transaction.
@transaction.atomic(savepoint=False)
def inbound_part_store(*, messages: Sequence[InboundMessage], statuses: Sequence[StatusUpdate] = ()) -> list[Message]:
    """Store one tenant's messages and apply its statuses; return the messages created.

    Call inside the tenant's schema. Re-runnable: messages already stored are skipped, and
    statuses only move forward. For every message created, publishes ``message.received``
    (message_id, conversation_id, contact_id) and, for media, schedules the download; then
    one ``messages.received`` (message_ids, conversation_ids: one per message, in Meta's
    timestamp order) for the whole part. Statuses are applied after the messages, so a
    status for a message of the same part finds it.
    """
    fresh, waiting = _not_stored(messages)
    created = _messages_store(fresh, waiting)
    if statuses:
        statuses_apply(updates=statuses)
    return created


def contact_upsert(*, wa_id: str | None, user_id: str | None, profile_name: str = "", seen_at: datetime) -> Contact:
    """The contact with this phone (``wa_id``) or business-scoped ``user_id``, created if new.

    Moves ``last_inbound_at`` forward only (webhooks arrive out of order) and keeps the
    latest non-empty profile name. Holds the contact's row lock until the transaction ends.
    Row by row: ``inbound_part_store`` uses it only for parts whose contacts the bulk
    upsert cannot take (one phone under two user ids, keys that belong to two contacts).
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


# -- media: the download code lives in conversations.services.media -------------------------


def _schedule_media_fetch(message_id: int) -> None:
    media_fetch_schedule(message_id=message_id)


# -- internals --------------------------------------------------------------------------------


# The wamids already stored and, in the same statement, the reactions stored before the
# message they react to (Meta does not keep order across deliveries, issue 13 §2): those of
# this part's senders, no older than the part's oldest message (one reacts after the message
# was written), so the (conversation, timestamp) index reads only each chat's newest rows.
_STORED_AND_WAITING_SQL = (
    f"SELECT m.wamid, NULL::bigint FROM {Message._meta.db_table} m WHERE m.wamid = ANY(%b) "
    f"UNION ALL SELECT r.payload->'reaction'->>'message_id', r.id FROM {Message._meta.db_table} r "
    f"JOIN {Conversation._meta.db_table} c ON c.id = r.conversation_id "
    f"JOIN {Contact._meta.db_table} p ON p.id = c.contact_id "
    "WHERE (p.wa_id = ANY(%b) OR p.user_id = ANY(%b)) AND r.timestamp >= %s "
    "AND r.type = 'reaction' AND r.reaction_to_id IS NULL "
    "AND r.payload->'reaction'->>'message_id' = ANY(%b)"
)


def _not_stored(messages: Sequence[InboundMessage]) -> tuple[list[InboundMessage], dict[str, list[int]]]:
    """Messages whose wamid is not stored yet, once each, in Meta's timestamp order; and the
    ids of stored reactions still waiting for one of them, by its wamid."""
    if not messages:
        return [], {}
    wamids = sorted({m.wamid for m in messages})
    wa_ids = sorted({m.contact.wa_id for m in messages if m.contact.wa_id})
    user_ids = sorted({m.contact.user_id for m in messages if m.contact.user_id})
    oldest = min(_when(m.timestamp) for m in messages)
    stored: set[str] = set()
    waiting: dict[str, list[int]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_STORED_AND_WAITING_SQL, (wamids, wa_ids, user_ids, oldest, wamids))
        for wamid, reaction_id in cursor.fetchall():
            if reaction_id is None:
                stored.add(wamid)
            else:
                waiting[wamid].append(reaction_id)
    fresh: dict[str, InboundMessage] = {}
    for message in messages:
        if message.wamid not in stored:
            fresh.setdefault(message.wamid, message)
    return sorted(fresh.values(), key=lambda m: (m.timestamp, m.wamid)), waiting


def _messages_store(fresh: list[InboundMessage], waiting: dict[str, list[int]] | None = None) -> list[Message]:
    """Insert ``fresh`` (sorted, one per wamid) with their contacts and conversations; link
    the ``waiting`` reactions (ids by target wamid) to the targets inserted here."""
    if not fresh:
        return []
    at = {m.wamid: _when(m.timestamp) for m in fresh}
    contact_ids = _contacts_upsert(fresh, at)
    conversation_ids = _conversations_upsert(fresh, at, contact_ids)
    contact_of = {conversation_ids[c]: c for c in contact_ids.values()}

    targets = {m.reaction_to_wamid for m in fresh if m.type == "reaction" and m.reaction_to_wamid}
    # The reacted-to wamid stays in `payload` (Meta's raw message) when it is not stored.
    stored_targets = (
        dict(Message.objects.filter(wamid__in=targets).order_by().values_list("wamid", "pk")) if targets else {}
    )
    rows = [
        _message_from(
            m,
            conversation_id=conversation_ids[contact_ids[_key(m)]],
            reaction_to_id=stored_targets.get(m.reaction_to_wamid) if m.type == "reaction" else None,
            timestamp=at[m.wamid],
        )
        for m in fresh
    ]
    # Only the rows this statement inserted come back: a wamid a parallel delivery stored a
    # moment ago (after the pre-check) is skipped here, so it gets no second event.
    inserted = dict(insert_on_conflict(Message, rows, conflict=["wamid"], returning=["wamid", "pk"]))
    created = [row for row in rows if row.wamid in inserted]
    for row in created:
        row.pk = inserted[row.wamid]
        row._state.adding = False
        row._state.db = "default"
    _reactions_within_link(fresh, created)
    _reactions_waiting_link(waiting or {}, created)

    for row in created:
        publish(
            "message.received",
            message_id=row.pk,
            conversation_id=row.conversation_id,
            contact_id=contact_of[row.conversation_id],
        )
        if row.media_status == MediaStatus.PENDING:
            _schedule_media_fetch(row.pk)
    if created:
        # One event for the whole part, so a listener can handle a burst in one go (issue 9).
        publish(
            "messages.received",
            message_ids=[row.pk for row in created],
            conversation_ids=[row.conversation_id for row in created],
        )
    return created


def _contacts_upsert(fresh: list[InboundMessage], at: dict[str, datetime]) -> dict[_ContactKey, int]:
    """Contact id for each sender key of ``fresh``, contacts created or updated."""
    by_key: dict[_ContactKey, list[InboundMessage]] = defaultdict(list)
    by_phone: dict[str, list[InboundMessage]] = defaultdict(list)
    for message in fresh:
        by_key[_key(message)].append(message)
        if message.contact.wa_id:
            by_phone[message.contact.wa_id].append(message)
    keys = sorted(by_key, key=_lock_order)
    # A phone seen under two user ids in one part: which contact gets which id is
    # contact_upsert's call, one key at a time.
    if all(len({m.contact.user_id for m in group if m.contact.user_id}) <= 1 for group in by_phone.values()):
        try:
            with transaction.atomic():
                return _contacts_bulk_upsert(keys, by_key, by_phone, at)
        except IntegrityError:
            # A user_id that already belongs to another contact (one first seen without
            # its phone, a number that changed hands): contact_upsert sorts it out.
            logger.info("inbound contacts collide on user_id; storing them one by one")
    ids: dict[_ContactKey, int] = {}
    for key in keys:
        seen_at, profile_name = _latest(by_key[key], at)
        contact = contact_upsert(
            wa_id=key[0] or None, user_id=key[1] or None, profile_name=profile_name, seen_at=seen_at
        )
        ids[key] = contact.pk
    return ids


def _contacts_bulk_upsert(
    keys: list[_ContactKey],
    by_key: dict[_ContactKey, list[InboundMessage]],
    by_phone: dict[str, list[InboundMessage]],
    at: dict[str, datetime],
) -> dict[_ContactKey, int]:
    # contact_upsert's rules in two statements: times only move forward, the newest
    # non-empty name wins, and a contact with a phone learns its user id if it had none.
    with_phone = []
    for wa_id in sorted(by_phone):
        group = by_phone[wa_id]
        seen_at, profile_name = _latest(group, at)
        user_id = next((m.contact.user_id for m in group if m.contact.user_id), None)
        with_phone.append(Contact(wa_id=wa_id, user_id=user_id, profile_name=profile_name, last_inbound_at=seen_at))
    user_only = []
    for key in keys:
        if not key[0]:
            seen_at, profile_name = _latest(by_key[key], at)
            user_only.append(Contact(user_id=key[1], profile_name=profile_name, last_inbound_at=seen_at))
    times_and_name = {"last_inbound_at": GREATEST, "profile_name": NEW_UNLESS_EMPTY}
    by_wa_id = dict(
        insert_on_conflict(
            Contact,
            with_phone,
            conflict=["wa_id"],
            update={**times_and_name, "user_id": OLD_UNLESS_NULL},
            returning=["wa_id", "pk"],
        )
    )
    by_user_id = dict(
        insert_on_conflict(Contact, user_only, conflict=["user_id"], update=times_and_name, returning=["user_id", "pk"])
    )
    return {key: by_wa_id[key[0]] if key[0] else by_user_id[key[1]] for key in keys}


def _conversations_upsert(
    fresh: list[InboundMessage], at: dict[str, datetime], contact_ids: dict[_ContactKey, int]
) -> dict[int, int]:
    """Conversation id per contact id: created on first contact; ``last_message_at`` only
    moves forward, and a closed conversation opens again when the customer writes."""
    latest: dict[int, datetime] = {}
    phone_number_id: dict[int, str] = {}
    for message in fresh:
        contact_id = contact_ids[_key(message)]
        latest[contact_id] = max(latest.get(contact_id, at[message.wamid]), at[message.wamid])
        phone_number_id.setdefault(contact_id, message.phone_number_id)
    rows = [
        Conversation(contact_id=c, phone_number_id=phone_number_id[c], last_message_at=latest[c])
        for c in sorted(latest)
    ]
    return dict(
        insert_on_conflict(
            Conversation,
            rows,
            conflict=["contact"],
            update={"last_message_at": GREATEST, "status": _REOPEN},
            returning=["contact", "pk"],
        )
    )


def _reactions_within_link(fresh: list[InboundMessage], created: list[Message]) -> None:
    # A reaction to a message of the same part: the target had no id yet when the rows
    # were built. Rare (customers mostly react to the business's messages, stored earlier).
    ids = {row.wamid: row.pk for row in created}
    targets = {m.wamid: m.reaction_to_wamid for m in fresh if m.type == "reaction" and m.reaction_to_wamid}
    links = {
        row.pk: ids[targets[row.wamid]]
        for row in created
        if row.reaction_to_id is None and targets.get(row.wamid) in ids
    }
    if not links:
        return
    Message.objects.filter(pk__in=links).update(
        reaction_to_id=Case(
            *(When(pk=pk, then=Value(target)) for pk, target in links.items()), output_field=IntegerField()
        )
    )
    for row in created:
        row.reaction_to_id = links.get(row.pk, row.reaction_to_id)


def _reactions_waiting_link(waiting: dict[str, list[int]], created: list[Message]) -> None:
    # Reactions stored before their message: one UPDATE, only when there are such reactions.
    links = {reaction_id: row.pk for row in created for reaction_id in waiting.get(row.wamid, ())}
    if not links:
        return
    Message.objects.filter(pk__in=links, reaction_to__isnull=True).update(
        reaction_to_id=Case(
            *(When(pk=pk, then=Value(target)) for pk, target in links.items()), output_field=IntegerField()
        )
    )


def _latest(messages: list[InboundMessage], at: dict[str, datetime]) -> tuple[datetime, str]:
    """The newest time and the newest non-empty profile name among ``messages``."""
    newest = max(messages, key=lambda m: (at[m.wamid], m.wamid))
    named = [m for m in messages if m.contact.profile_name]
    name = max(named, key=lambda m: (at[m.wamid], m.wamid)).contact.profile_name if named else ""
    return at[newest.wamid], name[:256]


def _key(message: InboundMessage) -> _ContactKey:
    return message.contact.wa_id or "", message.contact.user_id or ""


def _lock_order(key: _ContactKey) -> tuple[bool, str, str]:
    # The bulk path locks contacts with a phone (by wa_id) before those known only by
    # user_id; the row-by-row path keeps the same order.
    return not key[0], key[0], key[1]


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


def _message_from(
    inbound: InboundMessage, *, conversation_id: int, reaction_to_id: int | None, timestamp: datetime
) -> Message:
    media = inbound.media
    error = inbound.errors[0] if inbound.errors else {}
    return Message(
        conversation_id=conversation_id,
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
        timestamp=timestamp,
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
    # Meta's error codes go in an `integer` column: anything else is unknown, not an error.
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -(2**31) <= number < 2**31 else None
