"""Reads of the inbox pages (call inside the tenant's schema).

Permissions live here so the page, its htmx fragments, the API and the websocket refuse the
same things: owners see every conversation; agents see those assigned to them and the
unassigned ones (``conversation_visible_q``). A conversation an agent may not see is
``NotFound``, exactly like one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import (
    BigIntegerField,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone

from bizmitra.errors import NotFound, ValidationFailed
from conversations.choices import ConversationStatus, Direction, MessageStatus, MessageType
from conversations.models import (
    CannedResponse,
    Contact,
    Conversation,
    ConversationActivity,
    ConversationLabel,
    EngineDecision,
    HandoffEvent,
    InboxSettings,
    Label,
    Message,
)
from conversations.selectors import conversation_visible_q, user_is_owner

WINDOW = timedelta(hours=24)
PAGE_SIZE = 30
THREAD_MAX = 500
# Opening a conversation shows its latest messages; "Load earlier" pages back (as Chatwoot does),
# so a conversation with thousands of messages opens as fast as a short one.
THREAD_PAGE = 100
SEARCH_MAX = 100

FILTERS = {
    "all": "All",
    "mine": "Mine",
    "unassigned": "Unassigned",
    "handed_off": "Handed off",
    "bot": "Bot",
    "opted_out": "Opted out",
    "failed": "Failed",
    "resolved": "Resolved",
}

FAILED_STATUSES = (MessageStatus.FAILED, MessageStatus.DEAD)


# --- permissions -----------------------------------------------------------------------------


def conversation_get_for_user(*, user, conversation_id: int, for_update: bool = False) -> Conversation:
    """The conversation, with its contact, if ``user`` may see it; else ``NotFound``."""
    # The contact's lead (a reverse one-to-one from the leads app) and the inbox state come in
    # the same query: the page shows both.
    queryset = Conversation.objects.select_related(
        "contact", "contact__lead", "assigned_agent", "inbox_state"
    ).annotate(label_list=_labels_subquery())
    if for_update:
        queryset = Conversation.objects.select_related("contact", "assigned_agent").select_for_update(of=("self",))
    try:
        return queryset.filter(conversation_visible_q(user)).get(pk=conversation_id)
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise NotFound("Conversation not found.") from None


def conversation_is_visible(*, user, conversation_id: int) -> bool:
    return Conversation.objects.filter(conversation_visible_q(user), pk=conversation_id).exists()


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Keyset position in the list: the last row's ``(last_message_at, id)``.

    Offsets shift when new messages move conversations to the top; a keyset never skips or
    repeats a row that was already below the cursor.
    """

    at: datetime | None
    id: int

    def encode(self) -> str:
        raw = f"{self.at.isoformat() if self.at else ''}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            at_text, _, id_text = raw.partition("|")
            at = datetime.fromisoformat(at_text) if at_text else None
            return cls(at=at, id=int(id_text))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            message = "This page link is broken; reload the inbox."
            raise ValidationFailed(message, fields={"cursor": ["invalid"]}) from None


def _unread_subquery():
    return Subquery(
        Message.objects.filter(
            conversation=OuterRef("pk"),
            direction=Direction.INBOUND,
            id__gt=Coalesce(OuterRef("inbox_state__last_read_message_id"), Value(0), output_field=BigIntegerField()),
        )
        .exclude(type__in=[MessageType.REACTION, MessageType.SYSTEM])
        .order_by()
        .values("conversation")
        .annotate(n=Count("id"))
        .values("n")[:1],
        output_field=IntegerField(),
    )


def _last_message(field_name: str):
    return Subquery(
        Message.objects.filter(conversation=OuterRef("pk"))
        .exclude(type=MessageType.MARK_READ)
        .order_by("-timestamp", "-id")
        .values(field_name)[:1]
    )


def _resolved_q() -> Q:
    # Resolved, and the customer has not written since.
    return Q(inbox_state__resolved_at__isnull=False) & (
        Q(contact__last_inbound_at__isnull=True) | Q(contact__last_inbound_at__lte=F("inbox_state__resolved_at"))
    )


def _labels_subquery() -> ArraySubquery:
    """The conversation's labels as ``[{"name", "colour"}]``, in the row's own query."""
    return ArraySubquery(
        ConversationLabel.objects.filter(conversation=OuterRef("pk"))
        .order_by("label__name")
        .values(json=JSONObject(name="label__name", colour="label__colour"))
    )


def inbox_queryset(*, user, filter_name: str = "all", query: str = "") -> QuerySet[Conversation]:
    """Visible conversations for one filter and search, annotated for the list rows."""
    if filter_name not in FILTERS:
        raise ValidationFailed("Unknown filter.", fields={"filter": [f"one of {', '.join(FILTERS)}"]})
    failed = Exists(Message.objects.filter(conversation=OuterRef("pk"), status__in=FAILED_STATUSES))
    queryset = (
        Conversation.objects.filter(conversation_visible_q(user))
        .select_related("contact", "assigned_agent", "inbox_state")
        .annotate(
            unread=Coalesce(_unread_subquery(), 0),
            has_failed=failed,
            last_body=_last_message("body"),
            last_type=_last_message("type"),
            last_direction=_last_message("direction"),
            last_status=_last_message("status"),
            label_list=_labels_subquery(),
        )
    )
    resolved = _resolved_q()
    if filter_name == "mine":
        queryset = queryset.filter(assigned_agent=user)
    elif filter_name == "unassigned":
        queryset = queryset.filter(assigned_agent__isnull=True)
    elif filter_name == "handed_off":
        queryset = queryset.filter(status=ConversationStatus.HANDED_OFF)
    elif filter_name == "bot":
        queryset = queryset.filter(status=ConversationStatus.OPEN, contact__opted_out_at__isnull=True)
    elif filter_name == "opted_out":
        queryset = queryset.filter(contact__opted_out_at__isnull=False)
    elif filter_name == "failed":
        queryset = queryset.filter(failed)
    if filter_name == "resolved":
        queryset = queryset.filter(resolved)
    elif filter_name not in ("opted_out", "failed"):
        queryset = queryset.exclude(resolved)
    query = (query or "").strip()[:SEARCH_MAX]
    if query:
        queryset = queryset.filter(_search_q(query))
    return queryset


@CharField.register_lookup
@TextField.register_lookup
class ILikeContains(Lookup):
    """``col ILIKE '%text%'``: the form a pg_trgm GIN index serves.

    Django's ``icontains`` compiles to ``UPPER(col) LIKE UPPER(...)``, which no index on the
    column can answer (migration 0005 indexes the columns themselves).
    """

    lookup_name = "trgm_icontains"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]

    def get_db_prep_lookup(self, value, connection):
        escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "%s", [f"%{escaped}%"]


def _search_q(query: str) -> Q:
    """Name, number / user id, or any message text (trigram-indexed ILIKE, migration 0005)."""
    condition = Q(contact__profile_name__trgm_icontains=query) | Q(contact__user_id__trgm_icontains=query)
    digits = "".join(ch for ch in query if ch.isdigit())
    if len(digits) >= 3 and len(digits) >= len(query.replace(" ", "").replace("+", "").replace("-", "")):
        condition |= Q(contact__wa_id__contains=digits)
    condition |= Q(Exists(Message.objects.filter(conversation=OuterRef("pk"), body__trgm_icontains=query)))
    return condition


def inbox_page(
    *, user, filter_name: str = "all", query: str = "", cursor: str = "", limit: int = PAGE_SIZE
) -> tuple[list[Conversation], str]:
    """One page of the list, newest activity first, and the cursor of the next page ("" at the end)."""
    queryset = inbox_queryset(user=user, filter_name=filter_name, query=query)
    if cursor:
        position = Cursor.decode(cursor)
        if position.at is None:
            queryset = queryset.filter(last_message_at__isnull=True, id__lt=position.id)
        else:
            queryset = queryset.filter(
                Q(last_message_at__lt=position.at)
                | Q(last_message_at=position.at, id__lt=position.id)
                | Q(last_message_at__isnull=True)
            )
    rows = list(queryset.order_by(F("last_message_at").desc(nulls_last=True), "-id")[: limit + 1])
    next_cursor = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = Cursor(at=rows[-1].last_message_at, id=rows[-1].pk).encode()
    for row in rows:
        _decorate_row(row)
    return rows, next_cursor


def inbox_row(*, user, conversation_id: int) -> Conversation:
    """One list row (for live updates), or ``NotFound`` when not visible."""
    row = inbox_queryset(user=user).filter(pk=conversation_id).first()
    if row is None:
        row = inbox_queryset(user=user, filter_name="resolved").filter(pk=conversation_id).first()
    if row is None:
        raise NotFound("Conversation not found.")
    _decorate_row(row)
    return row


def unread_total(*, user) -> int:
    """Conversations with unread messages, for the tab title and the nav badge."""
    # Compares times instead of counting messages: one pass over conversations, no subquery.
    never = datetime(1970, 1, 1, tzinfo=UTC)
    return (
        Conversation.objects.filter(conversation_visible_q(user))
        .filter(
            Q(contact__last_inbound_at__gt=Coalesce(F("inbox_state__last_read_at"), Value(never)))
            | Q(inbox_state__marked_unread=True)
        )
        .count()
    )


def _decorate_row(row: Conversation) -> None:
    state = getattr(row, "inbox_state", None) if _has_state(row) else None
    row.is_resolved = bool(
        state
        and state.resolved_at
        and (row.contact.last_inbound_at is None or row.contact.last_inbound_at <= state.resolved_at)
    )
    row.marked_unread = bool(state and state.marked_unread)
    row.window_closes_at = window_closes_at(row.contact)
    row.labels = getattr(row, "label_list", None) or []


def _has_state(conversation: Conversation) -> bool:
    try:
        return conversation.inbox_state is not None
    except Conversation.inbox_state.RelatedObjectDoesNotExist:
        return False


def window_closes_at(contact: Contact) -> datetime | None:
    """When the 24-hour customer-service window closes; None when it is closed."""
    if contact.last_inbound_at is None:
        return None
    closes = contact.last_inbound_at + WINDOW
    return closes if closes > timezone.now() else None


def contact_display_name(contact: Contact) -> str:
    return contact.profile_name or (f"+{contact.wa_id}" if contact.wa_id else contact.user_id or "Unknown")


# --- the thread ------------------------------------------------------------------------------


@dataclass
class ThreadItem:
    """One line of the thread: a message, a note / team action, or a handoff."""

    kind: str  # "message" | "activity" | "handoff"
    at: datetime
    obj: Any
    sort_id: int = 0


@dataclass
class Thread:
    conversation: Conversation
    items: list[ThreadItem]
    has_earlier: bool
    earliest_message_id: int | None
    last_inbound: Message | None
    window_closes_at: datetime | None
    is_resolved: bool
    labels: list[dict] = field(default_factory=list)


SENDER_LABELS = {
    EngineDecision.Path.RULE: ("rule", "Rule"),
    EngineDecision.Path.FLOW: ("flow", "Flow"),
    EngineDecision.Path.BUILTIN: ("rule", "Built-in reply"),
    EngineDecision.Path.AI: ("ai", "AI"),
    EngineDecision.Path.FALLBACK: ("rule", "Fallback"),
    EngineDecision.Path.AWAY: ("rule", "Away message"),
}


def thread_get(*, conversation: Conversation, before_id: int | None = None, limit: int = THREAD_PAGE) -> Thread:
    """The conversation's messages (the latest ``limit``, or those before ``before_id``), team
    activities and handoffs, oldest first, with reactions and replied-to messages attached."""
    messages_qs = conversation.messages.select_related("sent_by").exclude(type=MessageType.MARK_READ)
    if before_id:
        messages_qs = messages_qs.filter(id__lt=before_id)
    latest = list(messages_qs.order_by("-timestamp", "-id")[: limit + 1])
    has_earlier = len(latest) > limit
    messages = list(reversed(latest[:limit]))
    since = messages[0].timestamp if (messages and has_earlier) else None
    message_items = _decorate_messages(messages, conversation)

    activities = ConversationActivity.objects.filter(conversation=conversation).select_related("actor")
    handoffs = HandoffEvent.objects.filter(conversation=conversation).select_related("actor")
    if since is not None:
        activities = activities.filter(at__gte=since)
        handoffs = handoffs.filter(at__gte=since)
    if before_id:
        activities, handoffs = activities.none(), handoffs.none()
    items = message_items
    items += [ThreadItem("activity", a.at, a, a.pk) for a in activities]
    items += [ThreadItem("handoff", h.at, h, h.pk) for h in handoffs]
    items.sort(key=lambda item: (item.at, 0 if item.kind == "message" else 1, item.sort_id))

    last_inbound = next((m for m in reversed(messages) if m.direction == Direction.INBOUND and m.wamid), None)
    state = conversation.inbox_state if _has_state(conversation) else None
    contact = conversation.contact
    is_resolved = bool(
        state
        and state.resolved_at
        and (contact.last_inbound_at is None or contact.last_inbound_at <= state.resolved_at)
    )
    labels = getattr(conversation, "label_list", None)
    if labels is None:
        labels = list(
            ConversationLabel.objects.filter(conversation=conversation)
            .order_by("label__name")
            .values(name=F("label__name"), colour=F("label__colour"))
        )
    return Thread(
        conversation=conversation,
        items=items,
        has_earlier=has_earlier,
        earliest_message_id=messages[0].pk if messages else None,
        last_inbound=last_inbound,
        window_closes_at=window_closes_at(contact),
        is_resolved=is_resolved,
        labels=labels,
    )


def _decorate_messages(messages: list[Message], conversation: Conversation) -> list[ThreadItem]:
    by_wamid = {m.wamid: m for m in messages if m.wamid}
    decisions = _decisions_by_reply(conversation, [m.pk for m in messages if m.direction == Direction.OUTBOUND])
    reactions: dict[int, list[Message]] = defaultdict(list)
    window_open = window_closes_at(conversation.contact) is not None
    opted_out = conversation.contact.opted_out_at is not None
    items = []
    for message in messages:
        local = timezone.localtime(message.timestamp)
        # Formatted once here: three date filters per bubble were the thread's main template cost.
        message.at_iso = local.isoformat()
        message.at_hm = local.strftime("%H:%M")
        message.at_title = f"{local.day} {local.strftime('%b %Y, %H:%M')}"
        message.is_out = message.direction == Direction.OUTBOUND
        # The page keeps the newest rendering of a bubble: two fetches racing must not show a
        # "read" message as "sent" again.
        message.version = f"{message.updated_at.timestamp():.6f}" if message.updated_at else "0"
        message.is_failed = message.status in FAILED_STATUSES
        # Where message_retry can succeed: a failed send, and Meta would take it now.
        message.can_retry = (
            message.direction == Direction.OUTBOUND
            and message.status in FAILED_STATUSES
            and not opted_out
            and (window_open or message.type == MessageType.TEMPLATE)
        )
        message.replied_to = by_wamid.get(message.context_wamid) if message.context_wamid else None
        message.reaction_list = reactions[message.pk]
        if message.type == MessageType.REACTION:
            target_id = message.reaction_to_id
            if target_id is None:
                target = by_wamid.get((message.payload.get("reaction") or {}).get("message_id", ""))
                target_id = target.pk if target else None
            emoji = message.body or (message.payload.get("reaction") or {}).get("emoji", "")
            if target_id is not None and emoji:
                reactions[target_id].append(message)
                continue
        if message.direction == Direction.OUTBOUND:
            message.sender_kind, message.sender_label = outbound_sender(message, decisions)
        items.append(ThreadItem("message", message.timestamp, message, message.pk))
    _attach_template_text([item.obj for item in items if item.obj.type == MessageType.TEMPLATE])
    return items


def _attach_template_text(messages: list[Message]) -> None:
    """Give sent template messages the text the customer saw: Meta's components, variables filled."""
    if not messages:
        return
    from templates.models import MessageTemplate
    from templates.text import substitute

    names = {(m.payload.get("template") or {}).get("name", "") for m in messages}
    templates = {t.meta_name: t for t in MessageTemplate.objects.filter(meta_name__in=names - {""})}
    for message in messages:
        sent = message.payload.get("template") or {}
        template = templates.get(sent.get("name", ""))
        values: dict[str, str] = {}
        for component in sent.get("components") or []:
            if component.get("type") not in ("body", "header"):
                continue
            for index, parameter in enumerate(component.get("parameters") or [], start=1):
                text = str(parameter.get("text", "")) if parameter.get("type") == "text" else ""
                values[parameter.get("parameter_name") or str(index)] = text
        preview = {"name": sent.get("name", ""), "header": "", "body": "", "footer": "", "buttons": []}
        for component in (template.meta_components if template else None) or []:
            kind = str(component.get("type", "")).upper()
            text = substitute(str(component.get("text") or ""), lambda slot, v=values: v.get(slot, "{{" + slot + "}}"))
            if kind == "HEADER" and str(component.get("format", "TEXT")).upper() == "TEXT":
                preview["header"] = text
            elif kind == "BODY":
                preview["body"] = text
            elif kind == "FOOTER":
                preview["footer"] = text
            elif kind == "BUTTONS":
                preview["buttons"] = [str(b.get("text") or "") for b in component.get("buttons") or []]
        if not preview["body"]:
            preview["body"] = " · ".join(v for v in values.values() if v)
        message.template_preview = preview


def _decisions_by_reply(conversation: Conversation, outbound_ids: list[int]) -> dict[int, EngineDecision]:
    if not outbound_ids:
        return {}
    wanted = set(outbound_ids)
    found: dict[int, EngineDecision] = {}
    rows = (
        EngineDecision.objects.filter(conversation=conversation)
        .exclude(reply_message_ids=[])
        .only("path", "rule_name", "reply_message_ids")
    )
    for decision in rows:
        for message_id in decision.reply_message_ids or []:
            if message_id in wanted:
                found[message_id] = decision
    return found


def outbound_sender(message: Message, decisions: dict[int, EngineDecision]) -> tuple[str, str]:
    """(kind, label) of who sent an outbound message: a person, rule, flow, AI, workflow, API."""
    if message.sent_by_id:
        user = message.sent_by
        return "person", (user.get_full_name() or user.get_username()) if user else "A teammate"
    decision = decisions.get(message.pk)
    if decision is not None and decision.path in SENDER_LABELS:
        kind, label = SENDER_LABELS[decision.path]
        if decision.rule_name and kind in ("rule", "flow"):
            # Built-in rules are already named "Built-in: …".
            label = (
                decision.rule_name
                if decision.rule_name.startswith(label) or decision.path == "builtin"
                else f"{label} · {decision.rule_name}"
            )
        return kind, label
    key = message.idempotency_key or ""
    if key.startswith("reply:"):
        return "rule", "Bot"
    if key.startswith("away:"):
        return "rule", "Away message"
    if key.startswith("wfjob:"):
        return "workflow", "Workflow"
    if key.startswith("followup:"):
        return "workflow", "Lead follow-up"
    if key.startswith("sim:"):
        return "api", "Simulator"
    return "api", "API"


def message_for_user(*, user, message_id: int) -> Message:
    """One message with everything its bubble shows, if ``user`` may see its conversation."""
    message = (
        Message.objects.select_related("sent_by", "conversation__contact")
        .filter(conversation__in=Conversation.objects.filter(conversation_visible_q(user)))
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        raise NotFound("Message not found.")
    items = _decorate_messages([message], message.conversation)
    if message.context_wamid:
        message.replied_to = Message.objects.filter(wamid=message.context_wamid).first()
    if items:
        message.reaction_list = list(Message.objects.filter(reaction_to=message, type=MessageType.REACTION))
    return message


# --- live catch-up ---------------------------------------------------------------------------


def changes_since(*, user, since: datetime, conversation_id: int | None = None) -> dict[str, list[int]]:
    """What changed after ``since``: list rows to refresh, and in the open conversation the
    messages to (re-)render and whether its team activity changed. Re-rendering is idempotent,
    so a client asks with a safety margin."""
    visible = Conversation.objects.filter(conversation_visible_q(user))
    status_changed = (
        Q(created_at__gt=since)
        | Q(sent_at__gt=since)
        | Q(delivered_at__gt=since)
        | Q(read_at__gt=since)
        | Q(failed_at__gt=since)
        | Q(updated_at__gt=since)
    )
    conversation_ids = set(
        visible.filter(
            Q(last_message_at__gt=since)
            | Q(handed_off_at__gt=since)
            | Q(inbox_activities__at__gt=since)
            | Q(handoff_events__at__gt=since)
        ).values_list("id", flat=True)[:200]
    )
    conversation_ids |= set(
        Message.objects.filter(status_changed, conversation__in=visible).values_list("conversation_id", flat=True)[:200]
    )
    messages: list[int] = []
    thread_changed = False
    if conversation_id and visible.filter(pk=conversation_id).exists():
        messages = list(
            Message.objects.filter(status_changed, conversation_id=conversation_id)
            .exclude(type=MessageType.MARK_READ)
            .order_by("timestamp", "id")
            .values_list("id", flat=True)[:THREAD_MAX]
        )
        thread_changed = (
            ConversationActivity.objects.filter(conversation_id=conversation_id, at__gt=since).exists()
            or HandoffEvent.objects.filter(conversation_id=conversation_id, at__gt=since).exists()
        )
    return {
        "conversations": sorted(conversation_ids),
        "messages": messages,
        "thread_changed": [conversation_id] if thread_changed else [],
    }


# --- the side panel, composer helpers ----------------------------------------------------------


def contact_panel(*, conversation: Conversation, thread: Thread | None = None) -> dict[str, Any]:
    """Everything the contact panel shows; reuses the thread's rows when it has them."""
    contact = conversation.contact
    lead = _lead_of(contact)
    opt_out_message = None
    if contact.opted_out_at:
        opt_out_message = (
            Message.objects.filter(
                conversation=conversation, direction=Direction.INBOUND, timestamp__lte=contact.opted_out_at
            )
            .order_by("-timestamp", "-id")
            .first()
        )
    if thread is not None:
        activities = [item.obj for item in reversed(thread.items) if item.kind == "activity"]
        notes = [a for a in activities if a.kind == ConversationActivity.Kind.NOTE][:5]
        previous = [a for a in activities if a.kind == ConversationActivity.Kind.RESOLVE][:10]
        messages = sum(1 for item in thread.items if item.kind == "message")
        message_count = None if thread.has_earlier else messages
    else:
        recent = list(
            ConversationActivity.objects.filter(
                conversation=conversation,
                kind__in=[ConversationActivity.Kind.NOTE, ConversationActivity.Kind.RESOLVE],
            )
            .select_related("actor")
            .order_by("-at", "-id")[:30]
        )
        notes = [a for a in recent if a.kind == ConversationActivity.Kind.NOTE][:5]
        previous = [a for a in recent if a.kind == ConversationActivity.Kind.RESOLVE][:10]
        message_count = None
    if message_count is None:
        message_count = conversation.messages.exclude(type=MessageType.MARK_READ).count()
    attributes = []
    if lead is not None:
        for label, name in (
            ("Email", "email"),
            ("Location", "location"),
            ("Interested in", "product_interest"),
            ("Source", "source"),
        ):
            value = getattr(lead, f"get_{name}_display", lambda n=name: getattr(lead, n, ""))()
            if value:
                attributes.append((label, value))
    return {
        "contact": contact,
        "lead": lead,
        "opt_out_message": opt_out_message,
        "notes": notes,
        "previous": previous,
        "attributes": attributes,
        "message_count": message_count,
    }


def _lead_of(contact: Contact):
    # Leads sit above conversations (the import direction); the reverse accessor needs no import.
    try:
        return contact.lead
    except Exception:  # RelatedObjectDoesNotExist of a model this app does not import
        return None


def teammates() -> list:
    """Active tenant users who can be assigned a conversation."""
    return list(get_user_model().objects.filter(is_active=True).order_by("first_name", "email", "id"))


def canned_responses() -> list[CannedResponse]:
    return list(CannedResponse.objects.all())


def labels_all() -> list[Label]:
    return list(Label.objects.all())


def inbox_settings_get() -> InboxSettings:
    """The tenant's inbox settings; an unsaved default when never saved (no write here)."""
    return InboxSettings.objects.filter(pk=InboxSettings.SINGLETON_PK).first() or InboxSettings()


def sendable_templates() -> list:
    """Templates that may go outside the 24-hour window: Meta-approved ones."""
    from templates.choices import TemplateKind
    from templates.selectors import template_list

    return [t for t in template_list().filter(kind=TemplateKind.META_TEMPLATE, is_active=True) if t.is_sendable]


def first_run_checklist(*, user) -> list[dict[str, Any]]:
    """The getting-started steps shown while no conversation is open, each with its state."""
    from conversations.dashboard.simulator import SIMULATOR_PREFIX

    simulated = Contact.objects.filter(wa_id__startswith=SIMULATOR_PREFIX).exists()
    real = Conversation.objects.exclude(contact__wa_id__startswith=SIMULATOR_PREFIX).exists()
    team = get_user_model().objects.filter(is_active=True).count() > 1
    steps = [
        {
            "key": "simulator",
            "title": "Message your bot from the phone simulator",
            "text": "Write as a customer and watch the bot answer — rules, menus and AI.",
            "done": simulated,
            "url": "simulator",
        },
        {
            "key": "customer",
            "title": "Get your first customer conversation",
            "text": "Share your WhatsApp number; new chats appear here live.",
            "done": real,
            "url": "",
        },
        {
            "key": "canned",
            "title": "Save a reply you type often",
            "text": "Open a conversation, then “Saved replies” in the contact panel; insert it with /shortcut.",
            "done": CannedResponse.objects.exists(),
            "url": "",
        },
    ]
    if user_is_owner(user):
        steps.append(
            {
                "key": "team",
                "title": "Invite a teammate",
                "text": "Agents see their own and unassigned conversations, and can reply and take over.",
                "done": team,
                "url": "admin",
            }
        )
    return steps
