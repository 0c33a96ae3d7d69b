"""Reads of the leads board and the lead page (call inside the tenant's schema).

Visibility comes from ``leads.selectors.lead_list`` (agents: their own and unassigned leads),
filters from ``leads.filters.LeadFilter`` — the same ones the API and its CSV export use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Avg, Count, QuerySet
from django.http import QueryDict

from bizmitra.errors import ValidationFailed
from leads.choices import LeadStage
from leads.filters import LeadFilter
from leads.models import Lead
from leads.selectors import lead_list
from leads.services.leads import lead_allowed_stages

# Cards shown per column; the column's count says how many more the filters match.
COLUMN_LIMIT = 50
SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "score": ("-score", "-created_at"),
    "name": ("name", "id"),
    "moved": ("-stage_changed_at", "-id"),
}
TIMELINE_MESSAGES = 30


@dataclass
class Column:
    stage: str
    label: str
    count: int = 0
    avg_score: float | None = None
    leads: list[Lead] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        return max(0, self.count - len(self.leads))


def board_leads(*, user, params: QueryDict) -> QuerySet[Lead]:
    """The leads a user may see, narrowed by the board's filters (422 on a bad filter)."""
    filterset = LeadFilter(params, queryset=lead_list(user=user))
    if not filterset.is_valid():
        raise ValidationFailed("Some filters are not valid.", fields=filterset.errors)
    return filterset.qs


def board_columns(*, user, params: QueryDict) -> list[Column]:
    """One column per pipeline stage: its count and average score (one aggregate query), and
    its first ``COLUMN_LIMIT`` cards in the chosen sort (one query per non-empty column)."""
    leads = board_leads(user=user, params=params)
    wanted = set(params.getlist("stage")) or set(LeadStage.values)
    columns = [Column(stage=value, label=label) for value, label in LeadStage.choices if value in wanted]
    stats = {row["stage"]: row for row in leads.order_by().values("stage").annotate(n=Count("id"), avg=Avg("score"))}
    order = SORTS.get(params.get("sort", ""), SORTS["newest"])
    for column in columns:
        row = stats.get(column.stage)
        if not row:
            continue
        column.count, column.avg_score = row["n"], row["avg"]
        column.leads = list(leads.filter(stage=column.stage).order_by(*order)[:COLUMN_LIMIT])
        for lead in column.leads:
            lead.allowed_moves = lead_allowed_moves(lead=lead)
    return columns


def lead_allowed_moves(*, lead: Lead) -> list[tuple[str, str]]:
    """(stage, label) pairs the state machine allows next for this lead, in pipeline order."""
    labels = dict(LeadStage.choices)
    return [(stage, labels[stage]) for stage in lead_allowed_stages(lead)]


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # message_in, message_out, stage, appointment, signal, follow_up, created, workflow
    title: str
    body: str = ""
    by: str = ""


def lead_timeline(*, lead: Lead) -> list[TimelineItem]:
    """What happened to a lead, newest first: messages, stage moves (who, when, why),
    appointments, score signals, the follow-up, workflow messages (``leads.hooks``), its creation."""
    from conversations.choices import Direction
    from conversations.models import Message
    from leads import hooks

    items: list[TimelineItem] = [
        TimelineItem(at=lead.created_at, kind="created", title="Lead created", body=lead.get_source_display())
    ]
    for t in lead.transitions.select_related("by_user").order_by("-at")[:100]:
        items.append(
            TimelineItem(
                at=t.at,
                kind="stage",
                title=f"{t.get_from_stage_display()} → {t.get_to_stage_display()}",
                body=t.reason,
                by=t.actor,
            )
        )
    for a in lead.appointments.order_by("-start_at")[:20]:
        items.append(
            TimelineItem(
                at=a.created_at,
                kind="appointment",
                title=f"Appointment {a.get_status_display().lower()}: {a.title}",
                body=f"{a.start_at:%Y-%m-%d %H:%M %Z}",
                by=a.booked_by,
            )
        )
    for s in lead.signals.order_by("-at")[:50]:
        items.append(
            TimelineItem(at=s.at, kind="signal", title=f"{s.get_kind_display()} ({s.points:+d})", body=s.detail)
        )
    items.extend(hooks.lead_timeline_entries(lead))
    if lead.follow_up_sent_at:
        items.append(TimelineItem(at=lead.follow_up_sent_at, kind="follow_up", title="Follow-up sent"))
    if lead.contact_id:
        messages = (
            Message.objects.filter(conversation__contact_id=lead.contact_id)
            .select_related("sent_by")
            .order_by("-timestamp", "-id")[:TIMELINE_MESSAGES]
        )
        for m in messages:
            inbound = m.direction == Direction.INBOUND
            text = m.body or m.payload_title or f"[{m.type}]"
            by = "" if inbound else (m.sent_by.get_username() if m.sent_by_id else "Bot")
            items.append(
                TimelineItem(
                    at=m.timestamp,
                    kind="message_in" if inbound else "message_out",
                    title="Customer wrote" if inbound else "We replied",
                    body=text[:300],
                    by=by,
                )
            )
    items.sort(key=lambda item: item.at, reverse=True)
    return items


def lead_conversation_id(*, lead: Lead) -> int | None:
    if not lead.contact_id:
        return None
    from conversations.models import Conversation

    return Conversation.objects.filter(contact_id=lead.contact_id).values_list("id", flat=True).first()
