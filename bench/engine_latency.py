"""Benchmark: the conversation engine's decision time, and inbound-to-reply latency (not a test).

Run:  .venv/bin/python bench/engine_latency.py [--decisions 300] [--replies 40] [--ai-delay 0.2]

All on loopback and bounded (every wait has a timeout):
1. Creates a scratch database ``bizmitra_bench_engine`` (dropped first), migrates it and
   onboards a bench tenant (built-in intents seeded) plus one keyword rule.
2. Phase "decision" (in-process, no worker): ``engine_handle_inbound`` on ``--decisions``
   fresh inbound messages per path, timed one by one, with its SQL query count:
   the built-in greeting rule ("hi"), a tenant keyword rule, and the fallback path (bot
   without AI). This is what the worker spends before the reply is queued; the queued
   sends are dropped afterwards (no worker runs here).
3. Phase "reply" (end to end): granian (WSGI, as in production) + a Celery worker + the
   Graph API sandbox + the local OpenAI-compatible test server
   (conversations/tests/ai_server.py) answering after ``--ai-delay`` seconds. The sandbox
   posts ``--replies`` signed inbound texts one at a time; the time from the webhook POST
   to the reply arriving at the sandbox's ``/messages`` endpoint is printed for the rule
   path and for the AI path (whose figure includes the model's own delay).

Needs PostgreSQL and Redis reachable as for `make test` (scripts/services.py finds them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import log, percentile, recreate_database, services_env, start, stop, wait_http  # noqa: E402
from bizmitra.queues import queues_arg  # noqa: E402

BENCH_DB = "bizmitra_bench_engine"
SCHEMA = "benchengine"
PHONE_NUMBER_ID = "900000000000077"
APP_SECRET = "bench-engine-secret"
PREFIX = f"bizmitra-bench-engine-{os.getpid()}"
REPLY_TIMEOUT = 30.0


def figures(label: str, values: list[float], unit: str = "ms") -> str:
    if not values:
        return f"  {label:<26} no samples"
    return (
        f"  {label:<26} p50 {statistics.median(values):8.2f} {unit}   p95 {percentile(values, 95):8.2f} {unit}"
        f"   p99 {percentile(values, 99):8.2f} {unit}   max {max(values):8.2f} {unit}   (n={len(values)})"
    )


class QueryCounter:
    """A ``connection.execute_wrapper`` that counts the SQL statements run."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def decision_phase(count: int, keyword: str) -> None:
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from bizmitra.config_cache import config_changed
    from conversations.choices import Direction, MessageStatus, MessageType
    from conversations.engine.bots import bot_for_phone_number
    from conversations.engine.services import engine_handle_inbound
    from conversations.models import Bot, Contact, Conversation, Message

    def inbound(text: str) -> Message:
        wa_id = "1888" + str(uuid.uuid4().int)[:9]
        contact = Contact.objects.create(wa_id=wa_id, profile_name="Bench Customer", last_inbound_at=timezone.now())
        conversation = Conversation.objects.create(contact=contact, phone_number_id=PHONE_NUMBER_ID)
        return Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type=MessageType.TEXT,
            body=text,
            wamid=f"wamid.bench{uuid.uuid4().hex}",
            status=MessageStatus.RECEIVED,
            timestamp=timezone.now(),
        )

    print()
    print("== engine decision, in-process (decide + queue the reply; no worker, no Graph call) ==")
    with schema_context(SCHEMA):
        bot = bot_for_phone_number(PHONE_NUMBER_ID)
        scenarios = [
            ("built-in greeting rule", "hi there", True),
            ("tenant keyword rule", f"do you have {keyword}?", True),
            ("fallback (AI off)", "something no rule knows", False),
        ]
        for label, text, ai in scenarios:
            Bot.objects.filter(pk=bot.pk).update(ai_enabled=ai)
            config_changed()  # the engine reads bots from a per-process snapshot
            engine_handle_inbound(message=inbound(text))  # warm caches and connections
            times, queries, paths = [], [], set()
            for _ in range(count):
                message = inbound(text)
                counter = QueryCounter()
                with connection.execute_wrapper(counter):
                    started = time.perf_counter()
                    decision = engine_handle_inbound(message=message)
                    times.append((time.perf_counter() - started) * 1000)
                queries.append(counter.count)
                paths.add(decision.path)
            print(
                figures(label, times) + f"   queries {statistics.median(queries):.0f}   path {','.join(sorted(paths))}"
            )
        Bot.objects.filter(pk=bot.pk).update(ai_enabled=True)
        config_changed()


def reply_phase(args, env: dict[str, str], keyword: str) -> None:
    from conversations.tests.ai_server import FakeAIServer
    from conversations.whatsapp.sandbox import GraphSandbox

    logdir = ROOT / "var" / "bench-logs"
    web_url = f"http://127.0.0.1:{args.port}"
    sandbox = GraphSandbox(webhook_url=f"{web_url}/webhooks/whatsapp/", app_secret=APP_SECRET, auto_statuses=())
    sandbox.start()
    sandbox.register_number(PHONE_NUMBER_ID, "bench-token")
    ai = FakeAIServer().start()
    env = {**env, "WHATSAPP_GRAPH_URL": sandbox.base_url, "OPENAI_BASE_URL": ai.base_url}
    granian = [str(ROOT / ".venv" / "bin" / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
    granian += ["--port", str(args.port), "--workers", "2", "--log-level", "warning", "bizmitra.wsgi:application"]
    web = start(granian, env, "engine-granian", logdir)
    worker = start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bizmitra",
            "worker",
            "-Q",
            queues_arg(PREFIX),
            "--concurrency",
            "2",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
        "engine-celery-worker",
        logdir,
    )
    try:
        wait_http(f"{web_url}/healthz")
        time.sleep(3)  # the worker's pool

        def timed(text_for, script) -> tuple[list[float], int]:
            latencies, missing = [], 0
            for i in range(args.replies):
                wa_id = "1999" + str(uuid.uuid4().int)[:9]
                script()
                before = len(sandbox.sent_messages)
                t0 = time.monotonic()
                injected = sandbox.inject_text(PHONE_NUMBER_ID, wa_id, text_for(i), profile_name=f"Bench {i}")
                assert injected.status_code == 200, injected
                reply = None
                while reply is None and time.monotonic() < t0 + REPLY_TIMEOUT:
                    reply = next((r for r in sandbox.sent_messages[before:] if r["wa_id"] == wa_id), None)
                    if reply is None:
                        time.sleep(0.002)
                if reply is None:
                    missing += 1
                else:
                    latencies.append((reply["received_at"] - t0) * 1000)
            return latencies, missing

        print()
        print("== inbound webhook -> reply at the Graph sandbox (granian + real worker) ==")
        rule, rule_missing = timed(lambda i: f"do you have {keyword}? ({i})", lambda: None)
        print(figures("rule path", rule) + (f"   no reply: {rule_missing}" if rule_missing else ""))
        answer = "We are open from 9 to 6."
        ai_times, ai_missing = timed(
            lambda i: f"when do you open on day {i}", lambda: ai.reply(answer, delay=args.ai_delay)
        )
        print(
            figures(f"AI path (model {args.ai_delay * 1000:.0f} ms)", ai_times)
            + (f"   no reply: {ai_missing}" if ai_missing else "")
        )
        if ai_times:
            own = [t - args.ai_delay * 1000 for t in ai_times]
            print(figures("AI path minus model delay", own))
    finally:
        stop(worker)
        stop(web)
        sandbox.stop()
        ai.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=300, help="in-process decisions timed per path")
    parser.add_argument("--replies", type=int, default=40, help="webhook-to-reply round trips per path")
    parser.add_argument("--ai-delay", type=float, default=0.2, help="seconds the local model takes to answer")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    args = parser.parse_args()

    found = services_env(BENCH_DB)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bizmitra.settings.base",
        DATABASE_URL=urlsplit(found["DATABASE_URL"])._replace(path=f"/{BENCH_DB}").geturl(),
        REDIS_URL=found["REDIS_URL"],
        DEBUG="false",
        LOG_LEVEL="WARNING",
        META_APP_SECRET=APP_SECRET,
        REDIS_KEY_PREFIX=PREFIX,
        CELERY_TASK_DEFAULT_QUEUE=PREFIX,
        ALLOWED_HOSTS="*",
        PYTHONUNBUFFERED="1",
    )
    os.environ.update(env)
    (ROOT / "var" / "bench-logs").mkdir(parents=True, exist_ok=True)

    log(f"scratch database {BENCH_DB}")
    recreate_database(env["DATABASE_URL"], BENCH_DB)
    import subprocess

    subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--shared", "-v", "0"], cwd=ROOT, env=env, check=True
    )

    import django

    django.setup()
    import redis
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenants.services import public_tenant_ensure, tenant_onboard

    public_tenant_ensure(domain="localhost")
    tenant_onboard(
        name="Engine Bench",
        schema_name=SCHEMA,
        domain="engine.localhost",
        phone_number_id=PHONE_NUMBER_ID,
        access_token="bench-token",
        owner_email="owner@engine.localhost",
        owner_password="bench-password",
        client_code="ENGBENCH",
    )
    keyword = "zqbenchwidget"
    with schema_context(SCHEMA):
        from templates.models import FlowRule, MessageTemplate

        template = MessageTemplate.objects.create(name="Widget", body="Widgets cost 10, {{first_name}}.")
        FlowRule.objects.create(name="Widget price", pattern=keyword, template=template, priority=50)

    try:
        decision_phase(args.decisions, keyword)
        redis.Redis.from_url(env["REDIS_URL"]).delete(PREFIX)  # the replies queued above: never sent
        connection.close()
        reply_phase(args, env, keyword)
    finally:
        redis.Redis.from_url(env["REDIS_URL"]).delete(PREFIX)
        connection.close()
        if not args.keep:
            recreate_database(env["DATABASE_URL"], BENCH_DB, create=False)


if __name__ == "__main__":
    main()
