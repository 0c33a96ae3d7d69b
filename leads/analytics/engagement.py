"""How customers are served, per tenant-local day: conversations started, first-response and
resolution times, the busiest hours, and the AI assistant's calls, tokens and cost per bot.
Read from raw rows here; the roll-up task stores each closed day in ``AnalyticsDay``.

Definitions (the page and the API say the same):

- A **conversation starts** with an inbound message when the customer had not written in the
  24 hours before (Meta's customer-service window opens again), or ever.
- **First response** of a started conversation: the first reply within that 24-hour window,
  measured separately for the bot (engine replies: idempotency keys ``reply:``/``away:``) and
  for people on the team (``sent_by`` set). Starts nobody answered in the window are counted
  as unanswered, not as a time.
- **Resolution**: each "resolve" in the inbox, measured from the first inbound message after the
  conversation's previous resolve (when the customer opened it again); counted on the day of
  the resolve.
- **Busiest hours**: inbound messages by weekday and hour on the tenant's clock.
- **AI**: attempts recorded in ``AICallLog``, the bot by the engine decision of the message
  answered; "calls" made at least one request to the AI endpoint, "refused" ones none (budget,
  hourly cap, AI off).

Times are kept as histograms with fixed bucket edges (``BUCKET_EDGES``, seconds), so days add
up and a range's p50/p90 come from the summed buckets, interpolated within a bucket the way
Prometheus' ``histogram_quantile`` does. The edges are part of the stored roll-up format
(``ROLL_UP_FORMAT`` in the selectors): change them only with a new format.

Call inside the tenant's schema.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from conversations.engine.handoff import ENGINE_KEY_PREFIXES

# Histogram edges in seconds: fine where the bot answers (seconds), coarse where people and
# resolutions fall (hours, days). The last bucket is open: "a week or more".
BUCKET_EDGES: tuple[int, ...] = (
    *(0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 45),
    *(60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 2700),
    *(3600, 5400, 7200, 10800, 14400, 21600, 28800, 43200, 64800),
    *(86400, 129600, 172800, 259200, 345600, 432000, 604800),
)
WINDOW = timedelta(hours=24)
TIMES = (
    ("bot", "Bot first response"),
    ("human", "Team first response"),
    ("resolution", "Resolution"),
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NO_BOT = "none"


def empty_engagement() -> dict:
    return {
        "started": 0,
        "times": {key: [0] * len(BUCKET_EDGES) for key, _ in TIMES},
        "hours": [0] * 24,
        "ai": {},
    }


def _bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(first, time.min, tzinfo=tz),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz),
    )


# One statement: the starts of the range (a window function over the inbound messages since
# 24 h before it), and for each the first bot and the first team reply in its window (two
# LATERAL lookups on the (conversation, timestamp) index), bucketed in SQL.
# ``(direction = 'in') IS TRUE`` (the same rows: direction is never null) keeps PostgreSQL off
# the partial index ``message_inbound_created``: a plain ``direction = 'in'`` matches its
# predicate and the planner then walked that whole index (every inbound message the tenant
# ever had) filtering on timestamp — 150 ms for today on the bench's 1,000,000 messages,
# 18 ms through the timestamp index (EXPLAIN ANALYZE, bench/analytics.py).
_STARTS_SQL = """
WITH inbound AS (
    SELECT conversation_id, "timestamp" AS ts,
           lag("timestamp") OVER (PARTITION BY conversation_id ORDER BY "timestamp", id) AS prev
    FROM {message}
    WHERE (direction = 'in') IS TRUE AND "timestamp" >= %(lookback)s AND "timestamp" < %(end)s
), starts AS (
    SELECT conversation_id, ts FROM inbound
    WHERE ts >= %(start)s AND (prev IS NULL OR ts - prev >= %(window)s)
)
SELECT (s.ts AT TIME ZONE %(tz)s)::date AS day,
       width_bucket(EXTRACT(epoch FROM bot.ts - s.ts)::float8, %(edges)s::float8[]) AS bot,
       width_bucket(EXTRACT(epoch FROM team.ts - s.ts)::float8, %(edges)s::float8[]) AS team,
       count(*)
FROM starts s
LEFT JOIN LATERAL (
    SELECT o."timestamp" AS ts FROM {message} o
    WHERE o.conversation_id = s.conversation_id AND o."timestamp" >= s.ts AND o."timestamp" < s.ts + %(window)s
      AND o.direction = 'out' AND o.sent_by_id IS NULL AND ({engine_keys})
    ORDER BY o."timestamp" LIMIT 1
) bot ON true
LEFT JOIN LATERAL (
    SELECT o."timestamp" AS ts FROM {message} o
    WHERE o.conversation_id = s.conversation_id AND o."timestamp" >= s.ts AND o."timestamp" < s.ts + %(window)s
      AND o.direction = 'out' AND o.sent_by_id IS NOT NULL
    ORDER BY o."timestamp" LIMIT 1
) team ON true
GROUP BY 1, 2, 3
"""

# Each resolve of the range, timed from the first inbound message after the previous resolve.
_RESOLUTIONS_SQL = """
SELECT (r.at AT TIME ZONE %(tz)s)::date AS day,
       width_bucket(EXTRACT(epoch FROM r.at - opened.ts)::float8, %(edges)s::float8[]) AS bucket,
       count(*)
FROM {activity} r
CROSS JOIN LATERAL (
    SELECT m."timestamp" AS ts FROM {message} m
    WHERE m.conversation_id = r.conversation_id AND m.direction = 'in' AND m."timestamp" <= r.at
      AND m."timestamp" > COALESCE(
          (SELECT max(p.at) FROM {activity} p
           WHERE p.conversation_id = r.conversation_id AND p.kind = 'resolve' AND p.at < r.at),
          '-infinity'::timestamptz)
    ORDER BY m."timestamp" LIMIT 1
) opened
WHERE r.kind = 'resolve' AND r.at >= %(start)s AND r.at < %(end)s
GROUP BY 1, 2
"""


def engagement_days_raw(*, first: date, last: date, tz: ZoneInfo) -> dict[date, dict]:
    """Per tenant-local day ``first``..``last`` from raw rows (three statements): conversations
    started, the time histograms, AI attempts per bot
    (``{bot_id or "none": [calls, refused, prompt_tokens, completion_tokens]}``). Inbound
    messages per hour come with the message counts (``selectors.analytics_days_raw``)."""
    from conversations.models import AICallLog, ConversationActivity, Message

    start, end = _bounds(first, last, tz)
    days = {first + timedelta(days=i): empty_engagement() for i in range((last - first).days + 1)}
    params = {
        "start": start,
        "end": end,
        "lookback": start - WINDOW,
        "window": WINDOW,
        "tz": tz.key,
        "edges": list(BUCKET_EDGES),
    }
    engine_keys = " OR ".join(f"o.idempotency_key LIKE '{prefix}%%'" for prefix in ENGINE_KEY_PREFIXES)
    tables = {"message": Message._meta.db_table, "activity": ConversationActivity._meta.db_table}
    with connection.cursor() as cursor:
        cursor.execute(_STARTS_SQL.format(engine_keys=engine_keys, **tables), params)
        for day, bot, team, n in cursor.fetchall():
            figures = days[day]
            figures["started"] += n
            if bot:
                figures["times"]["bot"][bot - 1] += n
            if team:
                figures["times"]["human"][team - 1] += n
        cursor.execute(_RESOLUTIONS_SQL.format(**tables), params)
        for day, bucket, n in cursor.fetchall():
            days[day]["times"]["resolution"][bucket - 1] += n
    calls = (
        AICallLog.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "inbound_message__engine_decision__bot_id")
        .annotate(
            calls=Count("id", filter=Q(rounds__gt=0)),
            refused=Count("id", filter=Q(rounds=0)),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
        )
        .order_by()
    )
    for row in calls:
        bot = row["inbound_message__engine_decision__bot_id"]
        key = str(bot) if bot is not None else NO_BOT
        days[row["day"]]["ai"][key] = [row["calls"], row["refused"], row["prompt"] or 0, row["completion"] or 0]
    return days


def _add(into: list[int], more: list[int]) -> None:
    for i, n in enumerate(more):
        into[i] += n


def histogram_quantile(counts: list[int], q: float) -> float | None:
    """The ``q`` quantile (0–1) of a histogram over ``BUCKET_EDGES``, interpolated linearly
    inside its bucket; None without observations. In the open last bucket it is that bucket's
    lower edge."""
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            low = BUCKET_EDGES[i]
            if i + 1 == len(BUCKET_EDGES):
                return float(low)
            high = BUCKET_EDGES[i + 1]
            return round(low + (high - low) * (rank - seen) / n, 1)
        seen += n
    return float(BUCKET_EDGES[-1])


def response_times(*, days: dict) -> dict:
    """First-response (bot, team) and resolution times of the range: count, p50 and p90 in
    seconds (None when nothing was measured), and how many starts got no answer in 24 h."""
    started = sum(figures["started"] for figures in days.values())
    rows = []
    for key, label in TIMES:
        counts = [0] * len(BUCKET_EDGES)
        for figures in days.values():
            _add(counts, figures["times"][key])
        measured = sum(counts)
        rows.append(
            {
                "key": key,
                "label": label,
                "count": measured,
                "unanswered": max(0, started - measured) if key != "resolution" else None,
                "p50_seconds": histogram_quantile(counts, 0.5),
                "p90_seconds": histogram_quantile(counts, 0.9),
            }
        )
    return {"started": started, "rows": rows}


def busiest_hours(*, days: dict) -> dict:
    """Inbound messages by weekday (Monday first) and hour of the tenant's clock, and the peak."""
    cells = [[0] * 24 for _ in WEEKDAYS]
    for day, figures in days.items():
        _add(cells[day.weekday()], figures["hours"])
    peak = max(((w, h, cells[w][h]) for w in range(7) for h in range(24)), key=lambda c: (c[2], -c[0], -c[1]))
    return {
        "rows": [{"weekday": name, "hours": cells[i]} for i, name in enumerate(WEEKDAYS)],
        "max": peak[2],
        "peak": {"weekday": WEEKDAYS[peak[0]], "hour": peak[1], "count": peak[2]} if peak[2] else None,
    }


def _cost(prompt: int, completion: int) -> float:
    """Estimated cost at the configured prices (``ANALYTICS_AI_PRICE_PER_MILLION_TOKENS``),
    rounded to 1/10,000 of the currency unit."""
    prices = settings.ANALYTICS_AI_PRICE_PER_MILLION_TOKENS
    value = Decimal(prompt) * Decimal(str(prices["prompt"])) + Decimal(completion) * Decimal(str(prices["completion"]))
    return float((value / Decimal(1_000_000)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def ai_usage(*, period, days: dict) -> dict:
    """The AI assistant's calls, tokens and estimated cost per bot, and tokens per day against
    the tenant's daily token budget (``AIAssistantSettings.daily_token_budget``, as it is now)."""
    from conversations.ai.selectors import ai_settings_get
    from conversations.models import Bot

    per_bot: dict[str, list[int]] = {}
    per_day = []
    budget = ai_settings_get().daily_token_budget
    for day in period.days:
        figures = days[day]["ai"]
        tokens = 0
        for key, values in figures.items():
            per_bot.setdefault(key, [0, 0, 0, 0])
            _add(per_bot[key], values)
            tokens += values[2] + values[3]
        per_day.append(
            {
                "day": day.isoformat(),
                "calls": sum(v[0] for v in figures.values()),
                "tokens": tokens,
                "budget_share": round(tokens / budget, 4) if budget else None,
            }
        )
    ids = [int(key) for key in per_bot if key != NO_BOT]
    names = dict(Bot.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
    bots = []
    for key, (calls, refused, prompt, completion) in per_bot.items():
        bot_id = None if key == NO_BOT else int(key)
        if bot_id is None:
            name = "No bot (prompt tests, other)"
        else:
            name = names.get(bot_id, f"Deleted bot {bot_id}")
        bots.append(
            {
                "bot_id": bot_id,
                "name": name,
                "calls": calls,
                "refused": refused,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "tokens": prompt + completion,
                "cost": _cost(prompt, completion),
            }
        )
    bots.sort(key=lambda b: (-b["tokens"], b["name"]))
    prompt = sum(b["prompt_tokens"] for b in bots)
    completion = sum(b["completion_tokens"] for b in bots)
    return {
        "daily_token_budget": budget,
        "currency": settings.ANALYTICS_AI_COST_CURRENCY,
        "price_per_million_tokens": dict(settings.ANALYTICS_AI_PRICE_PER_MILLION_TOKENS),
        "calls": sum(b["calls"] for b in bots),
        "refused": sum(b["refused"] for b in bots),
        "tokens": prompt + completion,
        "cost": _cost(prompt, completion),
        "days_over_budget": sum(1 for d in per_day if budget and d["tokens"] > budget),
        "bots": bots,
        "days": per_day,
    }


def duration_label(seconds: float | None) -> str:
    """A time as an owner reads it: "–", "4 s", "12 min", "3.5 h", "2.1 days"."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min".replace(".0 ", " ")
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h".replace(".0 ", " ")
    return f"{seconds / 86400:.1f} days".replace(".0 ", " ")
