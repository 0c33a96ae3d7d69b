"""Typed, lossless reading of Meta's WhatsApp Cloud API webhook POST payloads.

Meta batches up to 1000 updates in one POST, spread over several ``entry[]`` items (one per
WABA) and ``changes[]`` (one per phone number and field). Every public Python library we
looked at reads only index 0 and silently drops the rest (pywa issue #229, see
``shared/meta/LIBRARIES.md``), so this module walks every entry, change, message, status and
error itself and never drops one: anything it cannot type is kept as an
``UnroutedChange`` or an ``unsupported`` message with its raw dict.

Shapes follow Meta's webhook reference
(https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages)
and FACTS.md §1.4. Pure Python (no Django) so it can be unit-tested and reused by the
webhook view, the Celery task and the sandbox alike.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

WABA_OBJECT = "whatsapp_business_account"
"""The only ``object`` value Meta sends for WhatsApp Business Account webhooks."""

MESSAGES_FIELD = "messages"
"""``changes[].field`` that carries inbound messages, statuses and ``value.errors``."""

MESSAGE_TYPES = frozenset(
    {
        "text",
        "button_reply",
        "list_reply",
        "button",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "reaction",
        "order",
        "system",
        "unsupported",
    }
)
"""Every value ``InboundMessage.type`` can take."""

MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
"""Inbound types whose payload is a downloadable media object (see ``MediaRef``)."""

STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4}
"""Progress rank of Meta's delivery statuses; higher means further along."""

STATUS_FAILED = "failed"

# Our own pre-Meta states sit below Meta's; the order matches STATUS_RANK.
_PROGRESS = ("queued", "sending", "sent", "delivered", "read", "played")
# A message Meta has delivered cannot fail any more; a `failed` arriving late for it is
# out-of-order noise, so only these states may still turn into `failed`.
_FAILABLE = frozenset({"", "queued", "sending", "sent"})

# Meta's system body: "User <PROFILE_NAME> changed from <OLD> to <NEW>".
_SYSTEM_BODY_NAME = re.compile(r"^User (?P<name>.+?) changed from ")

# What the database can store (issue 13 §0): the columns that identify a message hold this
# much, so a longer value cannot be stored without changing what it means (a cut wamid could
# collide with another one): such a message is rejected, not cut.
MAX_WAMID_LENGTH = 255
MAX_WA_ID_LENGTH = 32
MAX_USER_ID_LENGTH = 128
MAX_STATUS_LENGTH = 16
MAX_DEPTH = 64
"""Nesting levels kept inside one item; Meta's shapes use fewer than ten."""
FUTURE_SKEW_SECONDS = 86_400
"""A message or status dated further than this after its delivery arrived is impossible."""
_INT4 = 2**31
# PostgreSQL text and jsonb refuse NUL, and UTF-8 cannot encode a lone surrogate (JSON's
# "\ud800" or the raw bytes json.loads reads with surrogatepass).
_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")


class MalformedWebhook(ValueError):  # noqa: N818 - the name is the project's public API
    """The POST body is not a WhatsApp Business Account webhook at all.

    Raised only for the envelope (not a JSON object, or ``object`` is not
    ``whatsapp_business_account``); odd shapes inside a valid envelope never raise.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unstorable(ValueError):  # noqa: N818 - reads as what it is, like MalformedWebhook
    """An item cannot be stored even after cleaning (nested too deep)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class InboundContact:
    """The WhatsApp user who sent an inbound message, as Meta identifies them.

    ``wa_id`` is the phone number (digits, no ``+``) and may be absent for users who adopted
    a username (2026); ``user_id`` is the business-scoped user id (BSUID, e.g.
    ``US.13491208655302741918``). Key users on ``user_id`` when the phone is absent.
    ``profile_name`` is set by the user and untrusted.
    """

    wa_id: str | None
    user_id: str | None
    profile_name: str = ""
    username: str = ""
    parent_user_id: str = ""


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A media object attached to an inbound message, downloadable through Graph for 7 days.

    ``sha256`` is Meta's base64 digest; ``url`` is only present since Meta's Nov 2025 roll-out
    and still needs the bearer token (and expires after 5 minutes).
    """

    media_id: str
    mime_type: str = ""
    sha256: str = ""
    caption: str = ""
    filename: str = ""
    url: str = ""
    voice: bool = False


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a WhatsApp user sent to one of our business phone numbers.

    ``phone_number_id`` is the tenant routing key (never route on ``display_phone_number``).
    ``wamid`` is Meta's message id, stable across webhook retries: the dedupe key.
    ``type`` is one of ``MESSAGE_TYPES``; ``text`` is the human-readable body for any type
    (text body, media caption, button/list title, reaction emoji, ...). ``raw`` is Meta's
    untouched message dict, kept because Meta has no API to fetch past webhooks.
    """

    phone_number_id: str
    display_phone_number: str
    waba_id: str
    wamid: str
    timestamp: int
    type: str
    contact: InboundContact
    text: str = ""
    payload_id: str = ""
    payload_title: str = ""
    media: MediaRef | None = None
    location: dict[str, Any] | None = None
    shared_contacts: list[dict[str, Any]] = field(default_factory=list)
    reaction_to_wamid: str = ""
    reaction_emoji: str = ""
    order: dict[str, Any] | None = None
    system: dict[str, Any] | None = None
    context_wamid: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """What the parser had to clean to make the message storable (empty for Meta's own)."""


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status Meta reports for a message we sent (``wamid`` from the send response).

    ``status`` is usually one of sent/delivered/read/played/failed, but unknown values are
    kept as-is. Statuses arrive out of order and more than once: apply them through
    ``status_supersedes`` and dedupe on ``(wamid, status)``. ``error_*`` come from the first
    entry of ``errors[]`` (set for ``failed``); ``raw`` keeps all of them and ``pricing``.
    """

    phone_number_id: str
    wamid: str
    status: str
    timestamp: int
    recipient_id: str = ""
    recipient_user_id: str = ""
    biz_opaque_callback_data: str = ""
    error_code: int | None = None
    error_title: str = ""
    error_message: str = ""
    error_details: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WebhookError:
    """A system- or app-level problem Meta reports in ``value.errors`` (not tied to a message)."""

    phone_number_id: str
    waba_id: str
    code: int | None
    title: str = ""
    message: str = ""
    details: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnroutedChange:
    """A change we do not type (template status, account update, ...) or could not read.

    Kept rather than dropped so that it can be stored, logged, or handled by a later feature.
    ``field`` is ``changes[].field`` ("" when the item was not even a dict).
    """

    field: str
    waba_id: str
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """A message or status that cannot be stored, with the reason: reported, never dropped.

    ``raw`` is Meta's item made storable (or a text excerpt of it when even that failed).
    """

    kind: str  # "message" or "status"
    phone_number_id: str
    waba_id: str
    reason: str
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    """Everything one webhook POST carried, flattened across all entries and changes."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[WebhookError] = field(default_factory=list)
    other_changes: list[UnroutedChange] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)

    def phone_number_ids(self) -> set[str]:
        """Business phone number ids (tenant keys) that this POST concerns."""
        ids = {m.phone_number_id for m in self.messages}
        ids.update(s.phone_number_id for s in self.statuses)
        ids.update(e.phone_number_id for e in self.errors)
        ids.discard("")
        return ids


def parse_webhook(payload: Any, *, received_at: int | None = None) -> ParsedWebhook:
    """Flatten a json-decoded webhook POST body into typed items, dropping none.

    Raises ``MalformedWebhook`` only when ``payload`` is not a dict or its ``object`` is not
    ``whatsapp_business_account``. Items are returned in payload order.

    Every item comes out storable (issue 13 §0): NUL characters are removed, lone surrogates
    replaced by U+FFFD, non-finite numbers (``1e400``) kept as text, and a timestamp that is
    missing, not positive or later than ``received_at`` (Unix seconds of the delivery's
    arrival; now when None) plus ``FUTURE_SKEW_SECONDS`` becomes ``received_at``; each such
    fix is written in the item's ``notes``. An item that still cannot be stored (an id or a
    sender longer than its column, nesting deeper than ``MAX_DEPTH``) is a ``RejectedItem``.
    """
    if not isinstance(payload, dict):
        raise MalformedWebhook(f"payload is a {type(payload).__name__}, not a JSON object")
    if payload.get("object") != WABA_OBJECT:
        raise MalformedWebhook(f"object is {payload.get('object')!r}, not {WABA_OBJECT!r}")

    result = ParsedWebhook()
    now = int(time.time()) if received_at is None else int(received_at)
    entries = payload.get("entry")
    if not isinstance(entries, list):
        result.other_changes.append(UnroutedChange(field="", waba_id="", raw=storable_or_excerpt(payload)))
        return result

    for entry in entries:
        if not isinstance(entry, dict):
            result.other_changes.append(UnroutedChange("", "", storable_or_excerpt({"entry": entry})))
            continue
        waba_id = _clean_text(_str(entry.get("id")), set())
        changes = entry.get("changes")
        if not isinstance(changes, list):
            result.other_changes.append(UnroutedChange("", waba_id, storable_or_excerpt(entry)))
            continue
        for change in changes:
            _parse_change(change, waba_id, result, now)
    return result


def storable(value: Any, notes: set[str] | None = None, *, depth: int = 0) -> Any:
    """``value`` (json-decoded) cleaned so that PostgreSQL text and jsonb columns take it.

    Removes NUL characters, replaces lone surrogates with U+FFFD (in keys too) and turns
    non-finite floats into text; adds a note to ``notes`` for each kind of fix. Raises
    ``Unstorable`` past ``MAX_DEPTH`` levels of nesting. Containers are copied;
    scalars come back as they were when nothing needed fixing.
    """
    notes = set() if notes is None else notes
    if isinstance(value, str):
        return _clean_text(value, notes)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise Unstorable(f"nested deeper than {MAX_DEPTH} levels")
        return {
            _clean_text(k, notes) if isinstance(k, str) else k: storable(v, notes, depth=depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise Unstorable(f"nested deeper than {MAX_DEPTH} levels")
        return [storable(v, notes, depth=depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        notes.add("a number too large to store was kept as text")
        return str(value)
    return value


def excerpt(value: Any, limit: int = 10_000) -> dict[str, Any]:
    """A storable text stand-in for something ``storable`` refused (for rejected items)."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deep to show>"
    return {"unstorable": _clean_text(text[:limit], set())}


def status_supersedes(current: str, incoming: str) -> bool:
    """Tell whether a message whose status is ``current`` should move to ``incoming``.

    Rules, because Meta does not guarantee order and retries deliveries:
    - progress only moves forward: queued < sending < sent < delivered < read < played, so a
      late ``sent`` never overwrites ``delivered`` and a duplicate never "changes" anything;
    - ``failed`` is terminal: nothing replaces it;
    - ``failed`` replaces only queued, sending and sent (or no status yet): once Meta has
      delivered a message a ``failed`` for it can only be stale, so delivered/read/played stay;
    - an unknown ``incoming`` status never replaces a known one (we cannot place it), but a
      known status replaces an unknown ``current``; an empty ``current`` accepts anything.
    """
    current = (current or "").lower()
    incoming = (incoming or "").lower()
    if not incoming or incoming == current or current == STATUS_FAILED:
        return False
    if incoming == STATUS_FAILED:
        return current in _FAILABLE or current not in _PROGRESS
    if incoming not in _PROGRESS:
        return current == ""
    if current not in _PROGRESS:
        return True
    return _PROGRESS.index(incoming) > _PROGRESS.index(current)


# --- internals --------------------------------------------------------------------------


def _parse_change(change: Any, waba_id: str, result: ParsedWebhook, now: int) -> None:
    if not isinstance(change, dict):
        result.other_changes.append(UnroutedChange("", waba_id, storable_or_excerpt({"change": change})))
        return
    field_name = _clean_text(_str(change.get("field")), set())
    value = change.get("value")
    if field_name != MESSAGES_FIELD or not isinstance(value, dict):
        result.other_changes.append(UnroutedChange(field_name, waba_id, storable_or_excerpt(change)))
        return

    metadata = _dict(value.get("metadata"))
    phone_number_id = _clean_text(_str(metadata.get("phone_number_id")), set())
    display_phone_number = _clean_text(_str(metadata.get("display_phone_number")), set())
    # Each contact cleaned once; its notes go to the messages it turns out to have sent.
    contacts: list[tuple[dict[str, Any], frozenset[str]]] = []
    for candidate in _items(value.get("contacts")):
        if isinstance(candidate, dict):
            notes: set[str] = set()
            try:
                contacts.append((storable(candidate, notes), frozenset(notes)))
            except Unstorable:
                continue  # a sender we cannot read: its messages are kept without a profile

    def reject(kind: str, reason: str, raw: Any) -> None:
        result.rejected.append(
            RejectedItem(kind, phone_number_id, waba_id, reason, raw if isinstance(raw, dict) else excerpt(raw))
        )

    found = 0
    for raw_message in _items(value.get("messages")):
        found += 1
        notes = set()
        try:
            message = _as_raw(storable(raw_message, notes))
        except Unstorable as exc:
            reject("message", exc.reason, excerpt(raw_message))
            continue
        problem = _message_problem(message)
        if problem:
            reject("message", problem, message)
            continue
        result.messages.append(
            _parse_message(
                message,
                phone_number_id=phone_number_id,
                display_phone_number=display_phone_number,
                waba_id=waba_id,
                contacts=contacts,
                notes=notes,
                now=now,
            )
        )
    for raw_status in _items(value.get("statuses")):
        found += 1
        notes = set()
        try:
            status = _as_raw(storable(raw_status, notes))
        except Unstorable as exc:
            reject("status", exc.reason, excerpt(raw_status))
            continue
        problem = _status_problem(status)
        if problem:
            reject("status", problem, status)
            continue
        result.statuses.append(_parse_status(status, phone_number_id, notes=notes, now=now))
    for raw_error in _items(value.get("errors")):
        found += 1
        error = _dict(storable_or_excerpt(raw_error))
        code, title, message, details = _error_fields(error)
        result.errors.append(
            WebhookError(
                phone_number_id=phone_number_id,
                waba_id=waba_id,
                code=code,
                title=title,
                message=message,
                details=details,
                raw=_as_raw(error),
            )
        )
    if not found:
        # A `messages` change with nothing we know in it is still Meta's data: keep it.
        result.other_changes.append(UnroutedChange(field_name, waba_id, storable_or_excerpt(change)))


def _message_problem(message: dict[str, Any]) -> str:
    """Why a (cleaned) message cannot be stored as it is, or ""."""
    if len(_str(message.get("id"))) > MAX_WAMID_LENGTH:
        return f"message id longer than {MAX_WAMID_LENGTH} characters"
    if len(_str(message.get("from"))) > MAX_WA_ID_LENGTH:
        return f"sender (from) longer than {MAX_WA_ID_LENGTH} characters"
    if len(_str(message.get("from_user_id"))) > MAX_USER_ID_LENGTH:
        return f"sender (from_user_id) longer than {MAX_USER_ID_LENGTH} characters"
    return ""


def _status_problem(status: dict[str, Any]) -> str:
    if len(_str(status.get("id"))) > MAX_WAMID_LENGTH:
        return f"status message id longer than {MAX_WAMID_LENGTH} characters"
    if len(_str(status.get("status"))) > MAX_STATUS_LENGTH:
        return f"status value longer than {MAX_STATUS_LENGTH} characters"
    return ""


def _parse_message(
    raw_message: Any,
    *,
    phone_number_id: str,
    display_phone_number: str,
    waba_id: str,
    contacts: list[tuple[dict[str, Any], frozenset[str]]],
    notes: set[str],
    now: int,
) -> InboundMessage:
    message = _dict(raw_message)
    meta_type = _str(message.get("type"))
    system = message.get("system") if isinstance(message.get("system"), dict) else None

    if meta_type == "system" and system is not None:
        contact = _system_contact(message, system)
    else:
        contact, contact_notes = _match_contact(contacts, _opt(message.get("from")), _opt(message.get("from_user_id")))
        notes |= contact_notes

    fields: dict[str, Any] = {"type": "unsupported"}
    if meta_type == "text":
        fields.update(type="text", text=_str(_dict(message.get("text")).get("body")))
    elif meta_type == "interactive":
        fields.update(_interactive_fields(_dict(message.get("interactive"))))
    elif meta_type == "button":
        button = _dict(message.get("button"))
        title = _str(button.get("text"))
        fields.update(type="button", text=title, payload_id=_str(button.get("payload")), payload_title=title)
    elif meta_type in MEDIA_TYPES:
        media = _media_ref(message.get(meta_type))
        fields.update(type=meta_type, media=media, text=media.caption if media else "")
    elif meta_type == "location":
        location = _dict(message.get("location"))
        label = ", ".join(p for p in (_str(location.get("name")), _str(location.get("address"))) if p)
        fields.update(type="location", location=dict(location), text=label)
    elif meta_type == "contacts":
        shared = [c for c in _items(message.get("contacts")) if isinstance(c, dict)]
        names = [_str(_dict(c.get("name")).get("formatted_name")) for c in shared]
        fields.update(type="contacts", shared_contacts=shared, text=", ".join(n for n in names if n))
    elif meta_type == "reaction":
        reaction = _dict(message.get("reaction"))
        emoji = _str(reaction.get("emoji"))  # absent or "" when the user removed a reaction
        fields.update(
            type="reaction",
            reaction_to_wamid=_str(reaction.get("message_id")),
            reaction_emoji=emoji,
            text=emoji,
        )
    elif meta_type == "order":
        order = _dict(message.get("order"))
        fields.update(type="order", order=dict(order), text=_str(order.get("text")))
    elif meta_type == "system":
        fields.update(type="system", system=dict(system or {}), text=_str((system or {}).get("body")))
    # Anything else (`unsupported`, legacy `unknown`, types Meta adds later) stays
    # `unsupported` with its raw dict, so a new Meta type can never crash the webhook.

    return InboundMessage(
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        waba_id=waba_id,
        wamid=_str(message.get("id")),
        timestamp=_checked_timestamp(message.get("timestamp"), now, notes),
        contact=contact,
        context_wamid=_str(_dict(message.get("context")).get("id")),
        errors=[e for e in _items(message.get("errors")) if isinstance(e, dict)],
        raw=_as_raw(raw_message),
        notes=tuple(sorted(notes)),
        **fields,
    )


def _interactive_fields(interactive: dict[str, Any]) -> dict[str, Any]:
    kind = _str(interactive.get("type"))
    if kind in ("button_reply", "list_reply"):
        reply = _dict(interactive.get(kind))
        title = _str(reply.get("title"))
        # A list row's description stays in `raw`; the title is what the user saw and tapped.
        return {"type": kind, "text": title, "payload_id": _str(reply.get("id")), "payload_title": title}
    # e.g. nfm_reply (Flows): not modelled yet, kept as unsupported with the raw dict.
    return {"type": "unsupported"}


def _media_ref(value: Any) -> MediaRef | None:
    if not isinstance(value, dict):
        return None
    return MediaRef(
        media_id=_str(value.get("id")),
        mime_type=_str(value.get("mime_type")),
        sha256=_str(value.get("sha256")),
        caption=_str(value.get("caption")),
        filename=_str(value.get("filename")),
        url=_str(value.get("url")),
        voice=value.get("voice") is True,
    )


def _match_contact(
    contacts: list[tuple[dict[str, Any], frozenset[str]]], sender_wa_id: str | None, sender_user_id: str | None
) -> tuple[InboundContact, frozenset[str]]:
    for candidate, notes in contacts:
        wa_id = _opt(candidate.get("wa_id"))
        user_id = _opt(candidate.get("user_id"))
        if (sender_wa_id and wa_id == sender_wa_id) or (sender_user_id and user_id == sender_user_id):
            return _contact_from(candidate, sender_wa_id, sender_user_id), notes
    if len(contacts) == 1:
        # One contact and no id to compare it with: it is the sender unless an id contradicts.
        only, notes = contacts[0]
        wa_id, user_id = _opt(only.get("wa_id")), _opt(only.get("user_id"))
        if _compatible(wa_id, sender_wa_id) and _compatible(user_id, sender_user_id):
            return _contact_from(only, sender_wa_id, sender_user_id), notes
    return InboundContact(wa_id=sender_wa_id, user_id=sender_user_id), frozenset()


def _contact_from(contact: dict[str, Any], sender_wa_id: str | None, sender_user_id: str | None) -> InboundContact:
    profile = _dict(contact.get("profile"))
    # The message's own sender id wins over a contacts[] id too long to store.
    wa_id = _opt(contact.get("wa_id"))
    user_id = _opt(contact.get("user_id"))
    return InboundContact(
        wa_id=(wa_id if wa_id and len(wa_id) <= MAX_WA_ID_LENGTH else None) or sender_wa_id,
        user_id=(user_id if user_id and len(user_id) <= MAX_USER_ID_LENGTH else None) or sender_user_id,
        profile_name=_str(profile.get("name")),
        username=_str(profile.get("username")) or _str(contact.get("username")),
        parent_user_id=_str(contact.get("parent_user_id")),
    )


def _system_contact(message: dict[str, Any], system: dict[str, Any]) -> InboundContact:
    # System messages carry no contacts array (WA/webhooks/reference/messages/system).
    # `from` is the old number on user_changed_number; system.wa_id is the new one, used only
    # when `from` is missing. For user_changed_user_id, system.user_id is the *new* BSUID, so
    # the sender is keyed on from_user_id or the previous id some payloads carry.
    match = _SYSTEM_BODY_NAME.match(_str(system.get("body")))
    return InboundContact(
        wa_id=_opt(message.get("from")) or _opt(system.get("wa_id")),
        user_id=_opt(message.get("from_user_id")) or _opt(system.get("previous_user_id")),
        profile_name=match.group("name") if match else "",
        parent_user_id=_str(message.get("from_parent_user_id")),
    )


def _parse_status(raw_status: Any, phone_number_id: str, *, notes: set[str], now: int) -> StatusUpdate:
    status = _dict(raw_status)
    errors = [e for e in _items(status.get("errors")) if isinstance(e, dict)]
    code, title, message, details = _error_fields(errors[0] if errors else {})
    return StatusUpdate(
        phone_number_id=phone_number_id,
        wamid=_str(status.get("id")),
        status=_str(status.get("status")).lower(),
        timestamp=_checked_timestamp(status.get("timestamp"), now, notes),
        recipient_id=_str(status.get("recipient_id")),
        recipient_user_id=_str(status.get("recipient_user_id")),
        biz_opaque_callback_data=_str(status.get("biz_opaque_callback_data")),
        error_code=code,
        error_title=title,
        error_message=message,
        error_details=details,
        raw=_as_raw(raw_status),
        notes=tuple(sorted(notes)),
    )


def _error_fields(error: dict[str, Any]) -> tuple[int | None, str, str, str]:
    # Current payloads put details under error_data; legacy `unknown` messages had them flat.
    details = _str(_dict(error.get("error_data")).get("details")) or _str(error.get("details"))
    return _int_or_none(error.get("code")), _str(error.get("title")), _str(error.get("message")), details


def _compatible(ours: str | None, theirs: str | None) -> bool:
    return ours is None or theirs is None or ours == theirs


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return str(value)
        except ValueError:  # an int past Python's 4,300-digit str() limit
            return ""
    return ""


def _opt(value: Any) -> str | None:
    return _str(value) or None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    """A list as-is; a lone object as a one-item list (never dropped); nothing as empty."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _as_raw(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"unparsed": value}


def _int_or_none(value: Any) -> int | None:
    """An integer that fits a PostgreSQL ``integer`` (Meta's error codes), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -_INT4 <= number < _INT4 else None


def _clean_text(value: str, notes: set[str]) -> str:
    if not _UNSTORABLE_CHARS.search(value):
        return value
    if "\x00" in value:
        notes.add("NUL characters removed")
        value = value.replace("\x00", "")
    if _UNSTORABLE_CHARS.search(value):
        notes.add("unpaired surrogates replaced by U+FFFD")
        value = _UNSTORABLE_CHARS.sub("\ufffd", value)
    return value


def storable_or_excerpt(value: Any) -> dict[str, Any]:
    """``storable(value)`` as a dict, or its ``excerpt`` when it nests too deep."""
    try:
        return _as_raw(storable(value))
    except Unstorable:
        return excerpt(value)


def _checked_timestamp(value: Any, now: int, notes: set[str]) -> int:
    """Meta's timestamp, or ``now`` (the delivery's arrival) when absent or impossible."""
    timestamp = _timestamp(value)
    if timestamp <= 0 and value in (None, ""):
        return now
    if timestamp <= 0 or timestamp > now + FUTURE_SKEW_SECONDS:
        notes.add(
            f"impossible timestamp {_clean_text(str(value), set())[:40]!r} replaced by the delivery's arrival time"
        )
        return now
    return timestamp


def _timestamp(value: Any) -> int:
    """Meta's Unix-seconds string as an int; 0 when absent or unreadable."""
    if isinstance(value, bool):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        pass
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0
