"""The owner's analytics: SQL aggregates over indexed columns (call inside the tenant's schema).

Why here: the figures read conversations (messages, engine decisions) and leads; leads sits
above conversations, so this is the lowest home that may import both (no upward import).
Every figure is one ``GROUP BY`` over an index the query's range uses — ``message.timestamp``,
``engine decision (path, created_at)``, ``lead.created_at`` — measured in ``bench/analytics.py``
before choosing SQL over task-kept roll-ups.

Days are the tenant's calendar days (``tenants.selectors.tenant_timezone``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from bizmitra.errors import ValidationFailed
from tenants.selectors import tenant_timezone

PRESETS = {"today": 1, "7d": 7, "30d": 30, "90d": 90}
PRESET_LABELS = [("today", "Today"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days")]
DEFAULT_PRESET = "30d"
MAX_DAYS = 366

# Who answered: engine paths grouped the way an owner thinks of them.
ANSWER_GROUPS = [
    ("builtin", "Built-in intents", ("builtin",)),
    ("rules", "Flow rules and menus", ("rule", "flow")),
    ("ai", "AI agent", ("ai",)),
    ("fallback", "Fallback and away replies", ("fallback", "away")),
]
DELIVERY_STEPS = [
    ("sent", "Sent", ("sent", "delivered", "read", "played")),
    ("delivered", "Delivered", ("delivered", "read", "played")),
    ("read", "Read", ("read", "played")),
    ("failed", "Failed", ("failed", "dead")),
]
TOP_ERRORS = 10


@dataclass(frozen=True)
class DateRange:
    """Whole tenant-local days ``first``..``last`` (inclusive) as ``[start, end)`` instants."""

    first: date
    last: date
    tz: ZoneInfo
    preset: str = ""

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=self.tz)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def _parse_day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(f"'{value}' is not a date.", fields={field: ["Use a date like 2026-03-01."]}) from None


def analytics_range(
    *, preset: str = "", date_from: str = "", date_to: str = "", tz: ZoneInfo | None = None
) -> DateRange:
    """The range a request asks for: a preset ending today, or custom dates (tenant-local).

    Raises ``ValidationFailed`` naming the field for an unknown preset, a bad date, a range
    that ends before it starts, or one longer than ``MAX_DAYS``.
    """
    tz = tz or tenant_timezone()
    today = timezone.now().astimezone(tz).date()
    if date_from or date_to:
        first = _parse_day(date_from, "from") if date_from else None
        last = _parse_day(date_to, "to") if date_to else today
        first = first or last - timedelta(days=PRESETS[DEFAULT_PRESET] - 1)
        if last < first:
            raise ValidationFailed(
                "The range ends before it starts.", fields={"to": ["Pick a day on or after the start."]}
            )
        if (last - first).days + 1 > MAX_DAYS:
            raise ValidationFailed(
                f"At most {MAX_DAYS} days at a time.", fields={"from": [f"Choose a range of at most {MAX_DAYS} days."]}
            )
        return DateRange(first=first, last=last, tz=tz)
    preset = preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise ValidationFailed(
            f"Unknown range '{preset}'.", fields={"preset": [f"Use one of: {', '.join(PRESETS)}, or from/to dates."]}
        )
    return DateRange(first=today - timedelta(days=PRESETS[preset] - 1), last=today, tz=tz, preset=preset)


def messages_per_day(*, period: DateRange) -> list[dict]:
    """Inbound and outbound messages per tenant-local day (``timestamp`` index), zeros included."""
    from conversations.models import Message

    rows = (
        Message.objects.filter(timestamp__gte=period.start, timestamp__lt=period.end)
        .annotate(day=TruncDate("timestamp", tzinfo=period.tz))
        .values("day")
        .annotate(inbound=Count("id", filter=Q(direction="in")), outbound=Count("id", filter=Q(direction="out")))
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}
    return [
        {
            "day": day.isoformat(),
            "inbound": by_day.get(day, {}).get("inbound", 0),
            "outbound": by_day.get(day, {}).get("outbound", 0),
        }
        for day in period.days
    ]


def who_answered(*, period: DateRange) -> dict:
    """Answers by kind: the engine's decisions by path, and messages people on the team sent.

    ``automatic_share`` is the part answered without AI or a person (built-in intents, rules,
    fallback/away): the seed's promise that rules answer most messages at no AI cost.
    """
    from conversations.models import EngineDecision, Message

    paths = dict(
        EngineDecision.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
        .values("path")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("path", "n")
    )
    humans = Message.objects.filter(
        timestamp__gte=period.start, timestamp__lt=period.end, direction="out", sent_by__isnull=False
    ).count()
    rows = [
        {"key": key, "label": label, "count": sum(paths.get(p, 0) for p in group)}
        for key, label, group in ANSWER_GROUPS
    ]
    rows.append({"key": "humans", "label": "People on the team", "count": humans})
    total = sum(r["count"] for r in rows)
    automatic = sum(r["count"] for r in rows if r["key"] in ("builtin", "rules", "fallback"))
    for row in rows:
        row["share"] = round(row["count"] / total, 4) if total else 0.0
    return {"rows": rows, "total": total, "automatic_share": round(automatic / total, 4) if total else 0.0}


def delivery(*, period: DateRange) -> dict:
    """Outbound messages of the range by how far they got (a status only moves up its ladder,
    so "delivered" counts read ones too), and failures by Meta error code and title."""
    from conversations.models import Message

    outbound = Message.objects.filter(timestamp__gte=period.start, timestamp__lt=period.end, direction="out")
    counts = outbound.aggregate(
        total=Count("id"), **{key: Count("id", filter=Q(status__in=statuses)) for key, _, statuses in DELIVERY_STEPS}
    )
    total = counts.pop("total")
    steps = [
        {"key": key, "label": label, "count": counts[key], "share": round(counts[key] / total, 4) if total else 0.0}
        for key, label, _ in DELIVERY_STEPS
    ]
    errors = [
        {"code": row["error_code"], "title": row["error_title"], "count": row["n"]}
        for row in outbound.filter(status__in=("failed", "dead"))
        .values("error_code", "error_title")
        .annotate(n=Count("id"))
        .order_by("-n", "error_code")[:TOP_ERRORS]
    ]
    return {"total": total, "steps": steps, "errors": errors}


def lead_funnel(*, period: DateRange) -> dict:
    """Leads created in the range: how many reached each stage (its transitions) and where they
    are now, conversion from 'new'; leads by source."""
    from leads.choices import LeadSource, LeadStage
    from leads.models import Lead, LeadTransition

    leads = Lead.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    now = dict(leads.values("stage").annotate(n=Count("id")).order_by().values_list("stage", "n"))
    total = sum(now.values())
    pipeline = [s for s in LeadStage.values if s != LeadStage.LOST]
    later = {stage: pipeline[pipeline.index(stage) :] for stage in pipeline}
    reached = LeadTransition.objects.filter(lead__in=leads).aggregate(
        **{
            stage: Count("lead_id", distinct=True, filter=Q(to_stage__in=later[stage]))
            for stage in pipeline
            if stage != LeadStage.NEW
        },
        lost=Count("lead_id", distinct=True, filter=Q(to_stage=LeadStage.LOST)),
    )
    reached[LeadStage.NEW] = total
    labels = dict(LeadStage.choices)
    stages = [
        {
            "stage": stage,
            "label": labels[stage],
            "reached": reached[stage] or 0,
            "now": now.get(stage, 0),
            "conversion": round((reached[stage] or 0) / total, 4) if total else 0.0,
        }
        for stage in LeadStage.values
    ]
    source_labels = dict(LeadSource.choices)
    sources = [
        {"source": row["source"], "label": source_labels.get(row["source"], row["source"]), "count": row["n"]}
        for row in leads.values("source").annotate(n=Count("id")).order_by("-n", "source")
    ]
    return {"total": total, "stages": stages, "sources": sources}


def analytics_summary(*, period: DateRange) -> dict:
    """Every figure of the analytics page and ``GET /api/analytics/`` for one range."""
    messages = messages_per_day(period=period)
    return {
        "range": {
            "first_day": period.first.isoformat(),
            "last_day": period.last.isoformat(),
            "preset": period.preset,
            "timezone": str(period.tz.key),
            "days": len(period.days),
        },
        "totals": {"inbound": sum(d["inbound"] for d in messages), "outbound": sum(d["outbound"] for d in messages)},
        "messages": messages,
        "who_answered": who_answered(period=period),
        "delivery": delivery(period=period),
        "leads": lead_funnel(period=period),
    }


CHARTS = ("messages", "who_answered", "delivery", "delivery_errors", "lead_funnel", "lead_sources")


def analytics_table(*, summary: dict, chart: str) -> tuple[list[str], list[list]]:
    """One chart's numbers as (header, rows): what its accessible table and its CSV show."""
    if chart == "messages":
        return ["Day", "Inbound", "Outbound"], [[r["day"], r["inbound"], r["outbound"]] for r in summary["messages"]]
    if chart == "who_answered":
        rows = summary["who_answered"]["rows"]
        return ["Answered by", "Messages", "Share"], [[r["label"], r["count"], f"{r['share']:.1%}"] for r in rows]
    if chart == "delivery":
        steps = summary["delivery"]["steps"]
        return ["Status", "Messages", "Share of sent"], [[r["label"], r["count"], f"{r['share']:.1%}"] for r in steps]
    if chart == "delivery_errors":
        errors = summary["delivery"]["errors"]
        return ["Meta error code", "Title", "Messages"], [[r["code"] or "", r["title"], r["count"]] for r in errors]
    if chart == "lead_funnel":
        stages = summary["leads"]["stages"]
        return ["Stage", "Reached", "In stage now", "Conversion from new"], [
            [r["label"], r["reached"], r["now"], f"{r['conversion']:.1%}"] for r in stages
        ]
    if chart == "lead_sources":
        return ["Source", "Leads"], [[r["label"], r["count"]] for r in summary["leads"]["sources"]]
    raise ValidationFailed(f"Unknown chart '{chart}'.", fields={"chart": [f"Use one of: {', '.join(CHARTS)}."]})
