"""Benchmark: the analytics page and GET /api/analytics/ on a big tenant (not a test).

Run:  .venv/bin/python bench/analytics.py [--messages 1000000] [--leads 50000] [--scale 1.0]
                                          [--requests 30] [--days 90] [--keep]

1. Creates a scratch database ``bizmitra_bench_analytics`` (dropped first), migrates it and
   onboards one tenant (time zone Asia/Kolkata) holding ``--messages`` messages (half in, half
   out, with delivery states, Meta errors, some sent by a person and the rest engine replies),
   an engine decision per inbound message (two bots), an AI call per 'ai' decision, a resolve
   per conversation, and ``--leads`` leads in every stage with their transitions, all spread
   over the last ``--days`` days (so a 90-day range reads every row: the worst case). Rows
   go in with ``INSERT … SELECT generate_series`` (a minute, not an hour, for a million).
   ``--scale 0.1`` multiplies both counts (100,000 messages / 5,000 leads) for a quick run.
2. Server time in process (Django's test client: middleware, view, SQL, JSON or template; no
   network) for a 90-day range: the API, the page, and each selector alone, ``--requests``
   times after 2 warm-ups; p50/p95/max and the SQL statements of one request.
   Target (issue 11): p95 < 300 ms for the page and the API.
3. Runs the roll-up job (``analytics_roll_up_due``: every closed day into ``AnalyticsDay``),
   prints its time, and measures phase 2 again: past days from roll-ups, today from raw rows.

Needs PostgreSQL reachable as for `make test` (scripts/services.py finds it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import log, percentile, recreate_database, services_env  # noqa: E402

BENCH_DB = "bizmitra_bench_analytics"
SCHEMA = "benchstats"
DOMAIN = "stats.localhost"
PHONE_NUMBER_ID = "900000000000077"
OWNER = "owner@stats.localhost"
PASSWORD = "bench-password"
PREFIX = f"bizmitra-bench-analytics-{os.getpid()}"


def figures(label: str, values: list[float], extra: str = "") -> str:
    return (
        f"  {label:<46} p50 {statistics.median(values):7.1f} ms   p95 {percentile(values, 95):7.1f} ms"
        f"   max {max(values):7.1f} ms   (n={len(values)}){extra}"
    )


def insert_series(model, count: int, exprs: dict[str, str], params: list | None = None) -> None:
    """``INSERT INTO <model> SELECT … FROM generate_series(1, count) g``: ``exprs`` give SQL for
    some columns (in terms of ``g``); every other column gets the field's own default, so
    columns other engineers add later keep working."""
    from django.db import connection
    from django.db.models import DateTimeField

    columns, values, args = [], [], []
    for field in model._meta.concrete_fields:
        column = field.column
        if column in exprs:
            columns.append(column)
            values.append(exprs[column].replace("%", "%%"))  # SQL modulo, not a placeholder
            continue
        if field.primary_key:
            continue
        if isinstance(field, DateTimeField) and (field.auto_now or field.auto_now_add):
            columns.append(column)
            values.append("now()")
            continue
        default = field.get_default()
        if default is None and field.null:
            continue
        columns.append(column)
        values.append("%s")
        args.append(field.get_db_prep_save(default, connection))
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(1, {int(count)}) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, args + list(params or []))


def seed(*, messages: int, leads: int, days: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from conversations.models import (
        AICallLog,
        Bot,
        Contact,
        Conversation,
        ConversationActivity,
        EngineDecision,
        Message,
    )
    from leads.models import Lead, LeadTransition

    owner_id = get_user_model().objects.get(email=OWNER).pk
    conversations = max(1, messages // 20)
    seconds = days * 86400 - 60
    log(f"  {conversations:,} contacts and conversations")
    insert_series(Contact, conversations, {"wa_id": "(919000000000 + g)::text", "profile_name": "'Bench ' || g"})
    first_contact = Contact.objects.order_by("id").values_list("id", flat=True).first()
    insert_series(
        Conversation,
        conversations,
        {"contact_id": f"{first_contact} + g - 1", "phone_number_id": f"'{PHONE_NUMBER_ID}'", "status": "'open'"},
    )
    first_conversation = Conversation.objects.order_by("id").values_list("id", flat=True).first()
    log(f"  {messages:,} messages over {days} days")
    outbound_status = "(ARRAY['sent','delivered','read','read','read','failed','delivered','dead'])[1 + (g / 2) % 8]"
    insert_series(
        Message,
        messages,
        {
            # Pairs: message 2k (in) and 2k+1 (its reply, seconds later) share a conversation.
            "conversation_id": f"{first_conversation} + (g / 2) % {conversations}",
            "direction": "CASE WHEN g % 2 = 0 THEN 'in' ELSE 'out' END",
            "type": "'text'",
            "body": "'bench message ' || g",
            "wamid": "'wamid.bench' || g",
            "status": f"CASE WHEN g % 2 = 0 THEN 'received' ELSE {outbound_status} END",
            "timestamp": f"now() - make_interval(secs => ((g - g % 2)::bigint * 7919) % {seconds}) + "
            "CASE WHEN g % 10 = 1 THEN make_interval(secs => 300 + g % 3000) "
            "WHEN g % 2 = 1 THEN make_interval(secs => 1 + g % 20) ELSE interval '0' END",
            "error_code": f"CASE WHEN g % 2 = 1 AND {outbound_status} IN ('failed','dead') "
            "THEN (ARRAY[131047,131026,130472,131049])[1 + g % 4] END",
            "error_title": f"CASE WHEN g % 2 = 1 AND {outbound_status} IN ('failed','dead') "
            "THEN (ARRAY['Re-engagement message','Message undeliverable','User''s number is part of an experiment',"
            "'Meta chose not to deliver'])[1 + g % 4] ELSE '' END",
            "sent_by_id": f"CASE WHEN g % 10 = 1 THEN {owner_id} END",
            # The engine's replies carry reply:<wamid> keys (first-response time counts only those).
            "idempotency_key": "CASE WHEN g % 2 = 1 AND g % 10 <> 1 THEN 'reply:bench' || g END",
        },
    )
    bots = [Bot.objects.create(name=f"Bench bot {i}").pk for i in (1, 2)]
    log("  an engine decision per inbound message")
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM conversations_message")
        first_message = cursor.fetchone()[0]
    # Decisions for inbound rows only: g walks the inbound ids (even g above → every other id).
    inbound = f"(SELECT {{}} FROM conversations_message WHERE id = {first_message} + 2 * g - 1)"
    insert_series(
        EngineDecision,
        messages // 2,
        {
            "message_id": f"{first_message} + 2 * g - 1",
            "conversation_id": inbound.format("conversation_id"),
            "path": "(ARRAY['builtin','rule','rule','flow','ai','fallback','away','silent_handoff'])[1 + g % 8]",
            "bot_id": f"(ARRAY[{bots[0]},{bots[1]}])[1 + g % 2]",
            "claimed_at": inbound.format("timestamp"),
            "created_at": inbound.format("timestamp"),
        },
    )
    log("  an AI call per 'ai' decision, and a resolve per conversation")
    ai_message = f"{first_message} + 2 * (8 * g - 4) - 1"
    insert_series(
        AICallLog,
        messages // 16,
        {
            "inbound_message_id": ai_message,
            "conversation_id": f"(SELECT conversation_id FROM conversations_message WHERE id = {ai_message})",
            "prompt_tokens": "900 + g % 400",
            "completion_tokens": "80 + g % 120",
            "rounds": "CASE WHEN g % 20 = 0 THEN 0 ELSE 1 END",
            "outcome": "'ok'",
            "created_at": f"(SELECT timestamp FROM conversations_message WHERE id = {ai_message})",
        },
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversations_enginedecision d SET ai_call_id = l.id FROM conversations_aicalllog l "
            "WHERE l.inbound_message_id = d.message_id"
        )
    insert_series(
        ConversationActivity,
        conversations,
        {
            "conversation_id": f"{first_conversation} + g - 1",
            "kind": "'resolve'",
            # Resolved 1–5 h after the conversation's first message.
            "at": "(SELECT min(timestamp) FROM conversations_message "
            f"WHERE conversation_id = {first_conversation} + g - 1) + make_interval(secs => 3600 + (g * 7) % 14400)",
        },
    )
    log(f"  {leads:,} leads with their transitions")
    insert_series(
        Lead,
        leads,
        {
            "name": "'Lead ' || g",
            "phone": "'+9180' || lpad(g::text, 8, '0')",
            "source": "(ARRAY['whatsapp','whatsapp','website','trigger_api','manual'])[1 + g % 5]",
            "stage": "(ARRAY['new','new','contacted','qualified','converted','paid','lost'])[1 + g % 7]",
            "score": "g % 60",
            "created_at": f"now() - make_interval(secs => (g::bigint * 104729) % {seconds})",
        },
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LeadTransition._meta.db_table} (lead_id, from_stage, to_stage, actor, reason, at) "
            "SELECT id, 'new', stage, 'bench', '', created_at FROM leads_lead WHERE stage <> 'new'"
        )
        for table in (
            "conversations_contact",
            "conversations_conversation",
            "conversations_message",
            "conversations_enginedecision",
            "conversations_aicalllog",
            "conversations_conversationactivity",
            "leads_lead",
            "leads_leadtransition",
        ):
            cursor.execute(f"ANALYZE {table}")


def timed(label: str, call, requests: int, *, count_sql: bool = True) -> list[float]:
    from django.db import connection

    for _ in range(2):
        call()
    statements = []

    def counter(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    times = []
    for i in range(requests):
        if i == 0 and count_sql:
            with connection.execute_wrapper(counter):
                t0 = time.perf_counter()
                call()
        else:
            t0 = time.perf_counter()
            call()
        times.append((time.perf_counter() - t0) * 1000)
    print(figures(label, times, f"   SQL: {len(statements)}" if count_sql else ""))
    return times


def server_phase(args, label: str) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context, tenant_context

    from leads.analytics import selectors as figures_module
    from tenants.models import Tenant

    with schema_context(SCHEMA):
        user = get_user_model().objects.get(email=OWNER)
        client = Client(HTTP_HOST=DOMAIN)
        client.force_login(user)
    connection.set_schema_to_public()

    def get(path):
        def call():
            response = client.get(path, {"preset": "90d"})
            assert response.status_code == 200, response.status_code
            connection.set_schema_to_public()
            return response

        return call

    data = get("/api/analytics/")().json()
    print()
    print(
        f"== 90-day range ({data['range']['first_day']} – {data['range']['last_day']}, {data['range']['timezone']}) =="
    )
    print(
        f"  rows in range: {data['totals']['inbound'] + data['totals']['outbound']:,} messages, "
        f"{data['who_answered']['total']:,} answers, {data['leads']['total']:,} leads, "
        f"{data['totals']['started']:,} conversations started, {data['ai']['calls']:,} AI calls"
    )
    times = {r["key"]: r for r in data["response_times"]["rows"]}
    print(
        "  first response p50/p90: bot "
        f"{times['bot']['p50_seconds']}/{times['bot']['p90_seconds']} s, team "
        f"{times['human']['p50_seconds']}/{times['human']['p90_seconds']} s; resolution "
        f"{times['resolution']['p50_seconds']}/{times['resolution']['p90_seconds']} s"
    )
    print(f"== server time, {label} ({args.requests} requests each after 2 warm-ups) ==")
    api = timed("GET /api/analytics/?preset=90d", get("/api/analytics/"), args.requests)
    page = timed("GET /analytics/?preset=90d", get("/analytics/"), args.requests)
    with tenant_context(Tenant.objects.get(schema_name=SCHEMA)):
        period = figures_module.analytics_range(preset="90d")
        timed(
            "  per-day figures (messages, answers, delivery, times, hours, AI)",
            lambda: figures_module.analytics_days(period=period),
            args.requests,
        )
        timed("  lead funnel", lambda: figures_module.lead_funnel(period=period), args.requests)
    verdict = "meets" if max(percentile(api, 95), percentile(page, 95)) < 300 else "misses"
    api_p95, page_p95 = percentile(api, 95), percentile(page, 95)
    print(f"  target p95 < 300 ms: {verdict} (API p95 {api_p95:.0f} ms, page p95 {page_p95:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply --messages and --leads (e.g. 0.1)")
    parser.add_argument("--days", type=int, default=90, help="spread the rows over this many days")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per figure")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument(
        "--skip-raw",
        action="store_true",
        help="skip phase 2 (raw rows only: tens of seconds a request at full size since issue 11's timings)",
    )
    args = parser.parse_args()
    messages, leads = int(args.messages * args.scale), int(args.leads * args.scale)

    found = services_env(BENCH_DB)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bizmitra.settings.base",
        DATABASE_URL=urlsplit(found["DATABASE_URL"])._replace(path=f"/{BENCH_DB}").geturl(),
        REDIS_URL=found["REDIS_URL"],
        DEBUG="false",
        LOG_LEVEL="WARNING",
        REDIS_KEY_PREFIX=PREFIX,
        CELERY_TASK_DEFAULT_QUEUE=PREFIX,
        ALLOWED_HOSTS="*",
        PYTHONUNBUFFERED="1",
    )
    os.environ.update(env)

    log(f"scratch database {BENCH_DB}")
    recreate_database(env["DATABASE_URL"], BENCH_DB)
    import subprocess

    subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--shared", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    import django

    django.setup()
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenants.models import Tenant
    from tenants.services import public_tenant_ensure, tenant_onboard

    public_tenant_ensure(domain="localhost")
    tenant_onboard(
        name="Analytics Bench",
        schema_name=SCHEMA,
        domain=DOMAIN,
        phone_number_id=PHONE_NUMBER_ID,
        access_token="bench-token",
        owner_email=OWNER,
        owner_password=PASSWORD,
        client_code="STATSBENCH",
    )
    Tenant.objects.filter(schema_name=SCHEMA).update(timezone="Asia/Kolkata")
    log(f"seeding {messages:,} messages and {leads:,} leads")
    t0 = time.monotonic()
    with schema_context(SCHEMA):
        seed(messages=messages, leads=leads, days=args.days)
    connection.set_schema_to_public()
    log(f"seeded in {time.monotonic() - t0:.1f} s")
    try:
        if not args.skip_raw:
            server_phase(args, "raw rows only (no roll-ups yet)")
        from django_tenants.utils import tenant_context

        from leads.analytics.services import analytics_roll_up_due

        with tenant_context(Tenant.objects.get(schema_name=SCHEMA)):
            t0 = time.monotonic()
            written = analytics_roll_up_due()
            log(f"roll-up task: {written} days in {time.monotonic() - t0:.1f} s (first run; later runs redo 3 days)")
            t0 = time.monotonic()
            analytics_roll_up_due()
            log(f"roll-up task, next run: {time.monotonic() - t0:.2f} s")
        connection.set_schema_to_public()
        server_phase(args, "with the daily roll-ups (past days from roll-ups, today live)")
    finally:
        connection.close()
        if not args.keep:
            recreate_database(env["DATABASE_URL"], BENCH_DB, create=False)


if __name__ == "__main__":
    main()
