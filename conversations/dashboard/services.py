"""Writes of the inbox: what a teammate does from the dashboard (call inside the tenant's schema).

Sending goes through the existing services — ``conversation_agent_reply`` for free text,
``message_send`` for templates and attachments, ``message_retry``, ``message_mark_read`` —
each with the composer's idempotency key, so a double click or a network retry of one
submit stores one message. Every team action is recorded as a ``ConversationActivity`` (or,
for takeover / return-to-bot, the engine's ``HandoffEvent``) and published as
``conversation.updated`` for the live dashboards.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from bizmitra.errors import Conflict, ValidationFailed
from bizmitra.events import publish
from conversations.choices import Direction, MessageType
from conversations.dashboard.selectors import inbox_settings_get
from conversations.models import (
    CannedResponse,
    Conversation,
    ConversationActivity,
    ConversationLabel,
    InboxSettings,
    InboxState,
    Label,
    Message,
)
from conversations.selectors import user_is_owner

logger = logging.getLogger(__name__)

Kind = ConversationActivity.Kind
TEXT_MAX = 4096
NOTE_MAX = 4096

# Meta's media limits (FACTS.md §6, WA/business-phone-numbers/media): type → (MIME types, bytes).
MEDIA_LIMITS: dict[str, tuple[frozenset[str], int]] = {
    "image": (frozenset({"image/jpeg", "image/png"}), 5 * 1024 * 1024),
    "video": (frozenset({"video/mp4", "video/3gpp"}), 16 * 1024 * 1024),
    "audio": (
        frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
        16 * 1024 * 1024,
    ),
    "document": (
        frozenset(
            {
                "text/plain",
                "application/pdf",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.ms-excel",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.ms-powerpoint",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            }
        ),
        100 * 1024 * 1024,
    ),
}


def _publish(conversation: Conversation, **extra: Any) -> None:
    publish(
        "conversation.updated",
        conversation_id=conversation.pk,
        contact_id=conversation.contact_id,
        status=conversation.status,
        **extra,
    )


def _state(conversation: Conversation) -> InboxState:
    state, _ = InboxState.objects.get_or_create(conversation=conversation)
    return state


def conversation_guard(*, conversation: Conversation, user, expected_assignee: str | None) -> None:
    """Refuse an action from a stale page: someone else took the conversation since it loaded.

    ``expected_assignee`` is the assignee id the page showed ("" for none, None: not checked).
    Acting on a conversation now assigned to yourself is always fine.
    """
    if expected_assignee is None:
        return
    current = str(conversation.assigned_agent_id or "")
    if current == str(expected_assignee) or conversation.assigned_agent_id == user.pk:
        return
    if conversation.assigned_agent_id:
        who = conversation.assigned_agent.get_full_name() or conversation.assigned_agent.get_username()
        message = f"{who} just took this conversation. Nothing was sent; reload to see their reply."
    else:
        message = "This conversation was just unassigned. Nothing was sent; reload and try again."
    raise Conflict(message, extra={"assigned_agent_id": conversation.assigned_agent_id})


# --- reading ---------------------------------------------------------------------------------


@transaction.atomic
def conversation_mark_read(*, conversation: Conversation, user, newest_inbound: Message | None = None) -> bool:
    """A teammate is looking at the conversation: its inbound messages are read by the team and,
    when the tenant wants it, at Meta (blue ticks). ``newest_inbound`` saves a query when the
    caller has the thread loaded. True when something became read."""
    if newest_inbound is None:
        newest_inbound = (
            Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
            .exclude(type__in=[MessageType.REACTION, MessageType.SYSTEM])
            .order_by("-id")
            .first()
        )
    newest_id = newest_inbound.pk if newest_inbound else 0
    newest_at = newest_inbound.timestamp if newest_inbound else None
    try:
        state = conversation.inbox_state
    except Conversation.inbox_state.RelatedObjectDoesNotExist:
        state = None
    changed = False
    if state is None:
        state, created = InboxState.objects.get_or_create(
            conversation=conversation, defaults={"last_read_message_id": newest_id, "last_read_at": newest_at}
        )
        changed = created and newest_id > 0
    if not changed and (newest_id > state.last_read_message_id or state.marked_unread):
        # Conditional: a concurrent open that read further must not be moved back.
        changed = bool(
            InboxState.objects.filter(pk=state.pk)
            .filter(Q(last_read_message_id__lt=newest_id) | Q(marked_unread=True))
            .update(
                last_read_message_id=Greatest(F("last_read_message_id"), newest_id),
                last_read_at=Greatest(Coalesce(F("last_read_at"), newest_at), newest_at)
                if newest_at
                else F("last_read_at"),
                marked_unread=False,
                updated_at=timezone.now(),
            )
        )
    if changed:
        transaction.on_commit(lambda: _publish_read(conversation))
    if newest_inbound is not None and newest_inbound.read_at is None and newest_inbound.wamid:
        if inbox_settings_get().mark_read_on_open:
            _mark_read_at_meta(newest_inbound)
    return changed


def _publish_read(conversation: Conversation) -> None:
    publish("conversation.updated", conversation_id=conversation.pk, contact_id=conversation.contact_id, read=True)


def _mark_read_at_meta(newest: Message) -> None:
    from conversations.services.outbound import message_mark_read

    # Marking the newest message read marks every earlier one (FACTS §2.2); one call is enough.
    # Meta refuses ids older than 30 days (131009): no point queueing those.
    if newest.type == MessageType.UNSUPPORTED or newest.timestamp < timezone.now() - timedelta(days=30):
        return
    # Claim it: two tabs opening the conversation at once queue one mark-read.
    if Message.objects.filter(pk=newest.pk, read_at__isnull=True).update(read_at=timezone.now()):
        message_mark_read(message=newest)


@transaction.atomic
def conversation_mark_unread(*, conversation: Conversation, user) -> None:
    state = _state(conversation)
    InboxState.objects.filter(pk=state.pk).update(marked_unread=True, updated_at=timezone.now())
    ConversationActivity.objects.create(conversation=conversation, kind=Kind.MARK_UNREAD, actor=user)
    _publish(conversation)


# --- sending ---------------------------------------------------------------------------------


def _check_idempotency_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > 200:
        raise ValidationFailed(
            "This form is out of date; reload the page.", fields={"idempotency_key": ["missing or too long"]}
        )
    return f"ui:{key}"


def composer_send_text(*, conversation: Conversation, user, text: str, idempotency_key: str) -> Message:
    """A teammate's free-text reply (takes the conversation over, see ``conversation_agent_reply``).

    Raises ``ValidationFailed`` (empty / over 4,096 characters), ``WindowClosed``, ``OptedOut``
    or ``DuplicateMessage`` (the same submit again: nothing new is sent).
    """
    from conversations.engine.handoff import conversation_agent_reply

    text = (text or "").strip()
    if not text:
        raise ValidationFailed("Write a message first.", fields={"text": ["empty"]})
    if len(text) > TEXT_MAX:
        raise ValidationFailed(
            f"WhatsApp allows {TEXT_MAX:,} characters; this message has {len(text):,}.", fields={"text": ["too long"]}
        )
    return conversation_agent_reply(
        conversation=conversation, text=text, by=user, idempotency_key=_check_idempotency_key(idempotency_key)
    )


def composer_send_template(
    *, conversation: Conversation, user, template_key: str, values: dict[str, str], idempotency_key: str
) -> Message:
    """Send a Meta-approved template (the only thing allowed outside the window), one field per variable."""
    from conversations.services.outbound import message_send
    from templates.rendering import render_template, template_slots
    from templates.selectors import template_get

    template = template_get(key=template_key or "")
    if template is None or not template.is_meta:
        raise ValidationFailed("Pick a template.", fields={"template": ["unknown template"]})
    if not template.is_sendable:
        raise ValidationFailed(
            "This template is not approved by Meta yet, so it cannot be sent.", fields={"template": ["not approved"]}
        )
    fallbacks = template.variables if isinstance(template.variables, dict) else {}
    context: dict[str, str] = {}
    missing = []
    for slot in template_slots(template):
        value = (values.get(slot) or "").strip()
        if not value and not (fallbacks.get(slot) or {}).get("fallback"):
            missing.append(slot)
        context[slot] = value
    if missing:
        raise ValidationFailed(
            "Fill in every variable: " + ", ".join("{{" + slot + "}}" for slot in missing) + ".",
            fields={f"var_{slot}": ["required"] for slot in missing},
        )
    rendered = render_template(template, context)
    return message_send(
        to=conversation.contact.recipient,
        type=rendered["type"],
        content=rendered["content"],
        idempotency_key=_check_idempotency_key(idempotency_key),
        sent_by=user,
        conversation=conversation,
    )


def media_kind_for(mime_type: str) -> str | None:
    for kind, (types, _) in MEDIA_LIMITS.items():
        if mime_type in types:
            return kind
    return None


def composer_send_attachment(
    *,
    conversation: Conversation,
    user,
    data: bytes,
    filename: str,
    mime_type: str,
    caption: str,
    idempotency_key: str,
) -> Message:
    """Upload a file to the Graph media endpoint and send it by media id.

    By id rather than link: Meta's download proxy rate-limits link sends. Refuses, before any
    upload, what Meta would refuse: types it does not accept and files over its size limits.
    """
    from bizmitra.graph_api.client import GraphApiError, GraphTransportError
    from conversations.services.media import media_upload_for_send
    from conversations.services.outbound import DuplicateMessage, OptedOut, WindowClosed, message_send, window_is_open

    key = _check_idempotency_key(idempotency_key)
    existing = Message.objects.filter(idempotency_key=key).values_list("pk", flat=True).first()
    if existing:
        raise DuplicateMessage(message_id=existing)
    mime_type = (mime_type or "").split(";")[0].strip().lower()
    if not mime_type or mime_type == "application/octet-stream":
        mime_type = mimetypes.guess_type(filename or "")[0] or ""
    kind = media_kind_for(mime_type)
    if kind is None:
        raise ValidationFailed(
            "WhatsApp does not accept this file type. Send a JPEG or PNG image, an MP4 video, "
            "an MP3/OGG/AAC audio, or a PDF, Word, Excel, PowerPoint or text document.",
            fields={"file": ["type not accepted"]},
        )
    limit = MEDIA_LIMITS[kind][1]
    if not data:
        raise ValidationFailed("The file is empty.", fields={"file": ["empty"]})
    if len(data) > limit:  # said in the composer's words; media_upload_for_send checks it too
        raise ValidationFailed(
            f"This {kind} is {len(data) / 1024 / 1024:.1f} MB; WhatsApp allows up to {limit // (1024 * 1024)} MB.",
            fields={"file": ["too large"]},
        )
    caption = (caption or "").strip()
    if len(caption) > 1024:
        raise ValidationFailed("Captions can have up to 1,024 characters.", fields={"caption": ["too long"]})
    # The same refusals message_send makes, checked before the upload costs a Graph call.
    if conversation.contact.opted_out_at is not None:
        message = "This contact opted out; nothing can be sent until they opt back in."
        raise OptedOut(message, fields={"file": ["opted out"]})
    if not window_is_open(conversation.contact):
        raise WindowClosed(
            "The 24-hour window is closed: only templates may be sent.", fields={"file": ["window closed"]}
        )
    # One home for sent files: the type sniffed from the bytes, Meta's limits, our stored
    # copy under the tenant's keys, then the upload (conversations.services.media).
    try:
        sent = media_upload_for_send(
            phone_number_id=conversation.phone_number_id, data=data, filename=filename or f"file.{kind}", kind=kind
        )
    except GraphApiError as exc:
        raise ValidationFailed(f"WhatsApp refused the file: {exc.title or exc}", fields={"file": ["refused"]}) from exc
    except GraphTransportError as exc:
        raise ValidationFailed(
            "Could not reach WhatsApp to upload the file; nothing was sent. Try again.", fields={"file": ["upload"]}
        ) from exc
    content: dict[str, Any] = {"id": sent.media_id}
    if caption and kind != "audio":
        content["caption"] = caption
    if kind == "document" and filename:
        content["filename"] = filename[:240]
    with transaction.atomic():
        message = message_send(
            to=conversation.contact.recipient,
            type=kind,
            content=content,
            idempotency_key=key,
            sent_by=user,
            conversation=conversation,
        )
        # Our own copy, so the thread shows a thumbnail / download without asking Meta.
        message.media_mime_type = sent.mime_type
        message.media_filename = (filename or "")[:255]
        message.media_file.name = sent.name
        message.save(update_fields=["media_mime_type", "media_filename", "media_file", "updated_at"])
    return message


def message_retry_for_user(*, message: Message) -> bool:
    """Retry a failed send from the thread's **Retry** button (``message_retry``)."""
    from conversations.services.outbound import message_retry

    return message_retry(message=message)


# --- team actions ----------------------------------------------------------------------------


@transaction.atomic
def note_create(*, conversation: Conversation, author, body: str, idempotency_key: str = "") -> ConversationActivity:
    """A private note in the thread: stored and shown to the team, never sent to the customer."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write the note first.", fields={"text": ["empty"]})
    if len(body) > NOTE_MAX:
        raise ValidationFailed(f"Notes can have up to {NOTE_MAX:,} characters.", fields={"text": ["too long"]})
    key = _check_idempotency_key(idempotency_key) if idempotency_key else None
    if key:
        existing = ConversationActivity.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            note = ConversationActivity.objects.create(
                conversation=conversation, kind=Kind.NOTE, actor=author, body=body, idempotency_key=key
            )
    except IntegrityError:
        return ConversationActivity.objects.get(idempotency_key=key)
    _publish(conversation, activity_id=note.pk)
    return note


@transaction.atomic
def conversation_assign(*, conversation: Conversation, assignee, by) -> bool:
    """Assign to a teammate (None: unassign). Agents may only take it themselves or let it go.

    Returns False when nothing changed.
    """
    if not user_is_owner(by) and assignee is not None and assignee.pk != by.pk:
        raise ValidationFailed("Only owners can assign conversations to others.", fields={"assignee": ["forbidden"]})
    locked = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)
    if locked.assigned_agent_id == (assignee.pk if assignee else None):
        return False
    if not user_is_owner(by) and assignee is None and locked.assigned_agent_id not in (None, by.pk):
        raise ValidationFailed("Only owners can unassign a teammate.", fields={"assignee": ["forbidden"]})
    locked.assigned_agent = assignee
    locked.save(update_fields=["assigned_agent"])
    conversation.assigned_agent = assignee
    ConversationActivity.objects.create(
        conversation=locked,
        kind=Kind.ASSIGN if assignee else Kind.UNASSIGN,
        actor=by,
        detail=(assignee.get_full_name() or assignee.get_username())[:255] if assignee else "",
    )
    _publish(locked, assigned_agent_id=assignee.pk if assignee else None)
    return True


@transaction.atomic
def conversation_take_over(*, conversation: Conversation, by) -> bool:
    """The bot goes quiet for this conversation; the person taking it becomes its assignee."""
    from conversations.engine.handoff import conversation_handoff

    changed = conversation_handoff(conversation=conversation, by=by, reason="taken over from the inbox")
    if conversation.assigned_agent_id is None:
        conversation_assign(conversation=conversation, assignee=by, by=by)
    return changed


def conversation_give_back(*, conversation: Conversation, by) -> bool:
    from conversations.engine.handoff import conversation_return_to_bot

    return conversation_return_to_bot(conversation=conversation, by=by, reason="returned from the inbox")


@transaction.atomic
def conversation_resolve(*, conversation: Conversation, by) -> bool:
    """Done for now; it reopens by itself when the customer writes again."""
    state = _state(conversation)
    locked = InboxState.objects.select_for_update().get(pk=state.pk)
    contact = conversation.contact
    if locked.resolved_at and (contact.last_inbound_at is None or contact.last_inbound_at <= locked.resolved_at):
        return False
    locked.resolved_at = timezone.now()
    locked.resolved_by = by
    locked.save(update_fields=["resolved_at", "resolved_by", "updated_at"])
    ConversationActivity.objects.create(conversation=conversation, kind=Kind.RESOLVE, actor=by)
    _publish(conversation, resolved=True)
    return True


@transaction.atomic
def conversation_reopen(*, conversation: Conversation, by) -> bool:
    state = _state(conversation)
    updated = InboxState.objects.filter(pk=state.pk, resolved_at__isnull=False).update(
        resolved_at=None, resolved_by=None, updated_at=timezone.now()
    )
    if not updated:
        return False
    ConversationActivity.objects.create(conversation=conversation, kind=Kind.REOPEN, actor=by)
    _publish(conversation, resolved=False)
    return True


@transaction.atomic
def conversation_label_toggle(*, conversation: Conversation, by, name: str) -> bool:
    """Add the label (created on first use) or, when it is there, remove it. True: now on."""
    name = " ".join((name or "").split())[:40]
    if not name:
        raise ValidationFailed("Give the label a name.", fields={"label": ["empty"]})
    label, _ = Label.objects.get_or_create(name=name)
    link = ConversationLabel.objects.filter(conversation=conversation, label=label).first()
    if link is not None:
        link.delete()
        ConversationActivity.objects.create(conversation=conversation, kind=Kind.LABEL_REMOVE, actor=by, detail=name)
        _publish(conversation)
        return False
    try:
        with transaction.atomic():
            ConversationLabel.objects.create(conversation=conversation, label=label, added_by=by)
    except IntegrityError:  # a concurrent add of the same label
        return True
    ConversationActivity.objects.create(conversation=conversation, kind=Kind.LABEL_ADD, actor=by, detail=name)
    _publish(conversation)
    return True


@transaction.atomic
def canned_response_create(*, shortcut: str, body: str, title: str = "", by=None) -> CannedResponse:
    from django.utils.text import slugify

    slug = slugify(shortcut or "")[:40]
    body = (body or "").strip()
    if not slug:
        raise ValidationFailed("Give the reply a shortcut (letters, digits, dashes).", fields={"shortcut": ["empty"]})
    if not body or len(body) > TEXT_MAX:
        raise ValidationFailed(f"The reply needs 1 to {TEXT_MAX:,} characters.", fields={"body": ["length"]})
    try:
        with transaction.atomic():
            return CannedResponse.objects.create(shortcut=slug, body=body, title=(title or "")[:100], created_by=by)
    except IntegrityError:
        raise ValidationFailed(f"/{slug} already exists.", fields={"shortcut": ["taken"]}) from None


@transaction.atomic
def canned_response_delete(*, canned_id: int) -> None:
    CannedResponse.objects.filter(pk=canned_id).delete()


def inbox_settings_ensure() -> InboxSettings:
    """The tenant's inbox preferences row, created with the defaults when missing (tenant schema)."""
    row, _ = InboxSettings.objects.get_or_create(pk=InboxSettings.SINGLETON_PK)
    return row
