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
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from bizmitra.errors import ValidationFailed
from leads.analytics import engagement
from tenants.selectors import tenant_timezone

PRESETS = {"today": 1, "7d": 7, "30d": 30, "90d": 90}
PRESET_LABELS = [("today", "Today"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days")]
DEFAULT_PRESET = "30d"
MAX_DAYS = 366

# Who answered: engine paths grouped the way an owner thinks of them.
ANSWER_GROUPS = [
    ("builtin", "Built-in intents", ("builtin",)),
    ("rules", "Flow rules and menus", ("rule", "flow")),
    ("ai", "AI assistant", ("ai",)),
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


# Days outside these years cannot hold messages, and near year 1 or 9999 the tenant's time zone
# would push the range's instants out of what datetime can hold (a 500, found by schemathesis).
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _parse_day(value: str, field: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(f"'{value}' is not a date.", fields={field: ["Use a date like 2026-03-01."]}) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValidationFailed(
            f"'{value}' is out of range.", fields={field: [f"Pick a day between {FIRST_YEAR} and {LAST_YEAR}."]}
        )
    return day


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


COUNTERS = ("inbound", "outbound", "sent", "delivered", "read", "failed", "by_humans")
# The roll-up rows this code reads; older rows miss figures added since (format 2: the
# engagement figures) and are recomputed by the task, read from raw rows until then.
ROLL_UP_FORMAT = 2


def _empty_day() -> dict:
    return {**dict.fromkeys(COUNTERS, 0), "paths": {}, "failures": {}, **engagement.empty_engagement()}


def analytics_days_raw(*, first: date, last: date, tz: ZoneInfo) -> dict[date, dict]:
    """Per tenant-local day from the raw rows (three ``GROUP BY`` statements over the
    ``timestamp`` and ``(path, created_at)`` indexes): message counts, delivery ladder, answers
    by people, engine decisions by path, failures by Meta error ``{(code, title): n}``."""
    from conversations.models import EngineDecision, Message

    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    days = {first + timedelta(days=i): _empty_day() for i in range((last - first).days + 1)}
    messages = Message.objects.filter(timestamp__gte=start, timestamp__lt=end)
    out = Q(direction="out")
    steps = {key: Count("id", filter=out & Q(status__in=statuses)) for key, _, statuses in DELIVERY_STEPS}
    # Per day and hour in one scan of the timestamp index: the days' counters are the sums of
    # their hours, and inbound per hour is the busiest-hours heatmap.
    rows = (
        messages.annotate(day=TruncDate("timestamp", tzinfo=tz), hour=ExtractHour("timestamp", tzinfo=tz))
        .values("day", "hour")
        .annotate(
            inbound=Count("id", filter=Q(direction="in")),
            outbound=Count("id", filter=out),
            by_humans=Count("id", filter=out & Q(sent_by__isnull=False)),
            **steps,
        )
        .order_by()
    )
    hours: dict[date, list[int]] = {}
    for row in rows:
        day, hour = row.pop("day"), row.pop("hour")
        figures = days[day]
        for key, n in row.items():
            figures[key] += n
        hours.setdefault(day, [0] * 24)[hour] = row["inbound"]
    decisions = (
        EngineDecision.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "path")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in decisions:
        days[row["day"]]["paths"][row["path"]] = row["n"]
    failures = (
        messages.filter(direction="out", status__in=("failed", "dead"))
        .annotate(day=TruncDate("timestamp", tzinfo=tz))
        .values("day", "error_code", "error_title")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in failures:
        days[row["day"]]["failures"][(row["error_code"], row["error_title"])] = row["n"]
    for day, figures in engagement.engagement_days_raw(first=first, last=last, tz=tz).items():
        days[day].update(figures)
        days[day]["hours"] = hours.get(day, [0] * 24)
    return days


def analytics_days(*, period: DateRange) -> dict[date, dict]:
    """Per-day figures of the range: past days from the roll-ups kept in this time zone, the
    rest (today, days not rolled up yet) from raw rows in one span."""
    from leads.models import AnalyticsDay

    today = timezone.now().astimezone(period.tz).date()
    days: dict[date, dict] = {}
    for row in AnalyticsDay.objects.filter(
        day__gte=period.first,
        day__lte=min(period.last, today - timedelta(days=1)),
        timezone=period.tz.key,
        format=ROLL_UP_FORMAT,
    ):
        figures = {key: getattr(row, key) for key in COUNTERS}
        figures["paths"] = dict(row.paths)
        figures["failures"] = {(f["code"], f["title"]): f["count"] for f in row.failures}
        figures["started"] = row.started
        figures["times"] = row.times
        figures["hours"] = row.hours
        figures["ai"] = row.ai
        days[row.day] = figures
    missing = [day for day in period.days if day not in days]
    if missing:
        raw = analytics_days_raw(first=missing[0], last=missing[-1], tz=period.tz)
        days.update({day: raw[day] for day in missing})
    return days


def messages_per_day(*, period: DateRange, days: dict | None = None) -> list[dict]:
    """Inbound and outbound messages and conversations started per tenant-local day, zeros included."""
    days = days if days is not None else analytics_days(period=period)
    return [
        {
            "day": d.isoformat(),
            "inbound": days[d]["inbound"],
            "outbound": days[d]["outbound"],
            "started": days[d]["started"],
        }
        for d in period.days
    ]


def who_answered(*, period: DateRange, days: dict | None = None) -> dict:
    """Answers by kind: the engine's decisions by path, and messages people on the team sent.

    ``automatic_share`` is the part answered without AI or a person (built-in intents, rules,
    fallback/away): the seed's promise that rules answer most messages at no AI cost.
    """
    days = days if days is not None else analytics_days(period=period)
    paths: dict[str, int] = {}
    for figures in days.values():
        for path, n in figures["paths"].items():
            paths[path] = paths.get(path, 0) + n
    humans = sum(figures["by_humans"] for figures in days.values())
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


def delivery(*, period: DateRange, days: dict | None = None) -> dict:
    """Outbound messages of the range by how far they got (a status only moves up its ladder,
    so "delivered" counts read ones too), and failures by Meta error code and title."""
    days = days if days is not None else analytics_days(period=period)
    total = sum(figures["outbound"] for figures in days.values())
    steps = []
    for key, label, _ in DELIVERY_STEPS:
        count = sum(figures[key] for figures in days.values())
        steps.append({"key": key, "label": label, "count": count, "share": round(count / total, 4) if total else 0.0})
    errors: dict[tuple, int] = {}
    for figures in days.values():
        for error, n in figures["failures"].items():
            errors[error] = errors.get(error, 0) + n
    top = sorted(errors.items(), key=lambda item: (-item[1], item[0][0] is None, item[0][0] or 0, item[0][1]))
    return {
        "total": total,
        "steps": steps,
        "errors": [{"code": code, "title": title, "count": n} for (code, title), n in top[:TOP_ERRORS]],
    }


def lead_funnel(*, period: DateRange) -> dict:
    """Leads created in the range: how many reached each stage (its transitions) and where they
    are now, conversion from 'new'; leads by source. Two statements: leads by (stage, source),
    which gives both the stages now and the sources, and the stages reached."""
    from leads.choices import LeadSource, LeadStage
    from leads.models import Lead, LeadTransition

    leads = Lead.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    now: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for stage, source, n in (
        leads.values("stage", "source").annotate(n=Count("id")).order_by().values_list("stage", "source", "n")
    ):
        now[stage] = now.get(stage, 0) + n
        by_source[source] = by_source.get(source, 0) + n
    total = sum(now.values())
    pipeline = [s for s in LeadStage.values if s != LeadStage.LOST]
    later = {stage: pipeline[pipeline.index(stage) :] for stage in pipeline}
    # Measured against one per-lead statement (furthest stage per lead, then counted): that one
    # hashes every lead of the range and was 3-4x slower on the bench's 50,000 leads.
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
        {"source": source, "label": source_labels.get(source, source), "count": n}
        for source, n in sorted(by_source.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {"total": total, "stages": stages, "sources": sources}


def analytics_summary(*, period: DateRange) -> dict:
    """Every figure of the analytics page and ``GET /api/analytics/`` for one range."""
    days = analytics_days(period=period)
    messages = messages_per_day(period=period, days=days)
    return {
        "range": {
            "first_day": period.first.isoformat(),
            "last_day": period.last.isoformat(),
            "preset": period.preset,
            "timezone": str(period.tz.key),
            "days": len(period.days),
        },
        "totals": {
            "inbound": sum(d["inbound"] for d in messages),
            "outbound": sum(d["outbound"] for d in messages),
            "started": sum(d["started"] for d in messages),
        },
        "messages": messages,
        "response_times": engagement.response_times(days=days),
        "who_answered": who_answered(period=period, days=days),
        "ai": engagement.ai_usage(period=period, days=days),
        "delivery": delivery(period=period, days=days),
        "leads": lead_funnel(period=period),
        "busiest_hours": engagement.busiest_hours(days=days),
    }


CHARTS = (
    "messages",
    "response_times",
    "who_answered",
    "ai_days",
    "ai_bots",
    "delivery",
    "delivery_errors",
    "lead_funnel",
    "lead_sources",
    "busiest_hours",
)


def analytics_table(*, summary: dict, chart: str) -> tuple[list[str], list[list]]:
    """One chart's numbers as (header, rows): what its accessible table and its CSV show."""
    if chart == "messages":
        return ["Day", "Inbound", "Outbound", "Conversations started"], [
            [r["day"], r["inbound"], r["outbound"], r["started"]] for r in summary["messages"]
        ]
    if chart == "response_times":
        label = engagement.duration_label
        return ["Measure", "Measured", "No answer in 24 h", "p50", "p90"], [
            [
                r["label"],
                r["count"],
                "" if r["unanswered"] is None else r["unanswered"],
                label(r["p50_seconds"]),
                label(r["p90_seconds"]),
            ]
            for r in summary["response_times"]["rows"]
        ]
    if chart == "ai_days":
        ai = summary["ai"]
        return ["Day", "AI calls", "Tokens", "Share of daily budget"], [
            [r["day"], r["calls"], r["tokens"], "" if r["budget_share"] is None else f"{r['budget_share']:.1%}"]
            for r in ai["days"]
        ]
    if chart == "ai_bots":
        currency = summary["ai"]["currency"]
        return ["Bot", "AI calls", "Refused", "Prompt tokens", "Completion tokens", f"Estimated cost ({currency})"], [
            [r["name"], r["calls"], r["refused"], r["prompt_tokens"], r["completion_tokens"], f"{r['cost']:.4f}"]
            for r in summary["ai"]["bots"]
        ]
    if chart == "busiest_hours":
        return ["Weekday", *[f"{h:02d}" for h in range(24)]], [
            [r["weekday"], *r["hours"]] for r in summary["busiest_hours"]["rows"]
        ]
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
