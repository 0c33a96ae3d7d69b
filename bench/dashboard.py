"""Benchmark: the inbox under a realistic tenant, and webhook-to-screen latency (not a test).

Run:  .venv/bin/python bench/dashboard.py [--conversations 10000] [--messages 200000]
                                          [--requests 60] [--live 30] [--no-browser]

1. Creates a scratch database ``bizmitra_bench_dashboard`` (dropped first), migrates it and
   onboards one tenant with ``--conversations`` conversations and ``--messages`` messages
   (one conversation holds 500 of them; the rest are spread evenly, in and out, with
   delivery states), inserted with COPY.
2. Server time (in process, Django's test client: middleware, views, templates, SQL — no
   network), ``--requests`` times each, with the SQL statements of one request:
   the inbox page, the list fragment htmx swaps in (a filter click), a search, the next page
   (cursor), and the 500-message conversation page. Targets (issue 10): p95 < 150 ms,
   <= 12 queries, no N+1.
3. Webhook -> event rendered (end to end): granian + daphne + a Celery worker + the Graph
   sandbox, and Debian's Chromium (Playwright) showing the signed-in inbox. The sandbox posts
   ``--live`` signed inbound messages one at a time; the time from just before the webhook
   POST to the new row being in the page's DOM (a MutationObserver stamps it with the
   browser's clock, converted to wall time) is printed. Target: p95 < 500 ms.

Needs PostgreSQL and Redis reachable as for `make test` (scripts/services.py finds them) and
/usr/bin/chromium for phase 3.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import log, percentile, recreate_database, services_env, start, stop, wait_http  # noqa: E402
from bizmitra.queues import queues_arg  # noqa: E402

BENCH_DB = "bizmitra_bench_dashboard"
SCHEMA = "benchdash"
DOMAIN = "dash.localhost"
PHONE_NUMBER_ID = "900000000000088"
APP_SECRET = "bench-dashboard-secret"
OWNER = "owner@dash.localhost"
PASSWORD = "bench-password"
PREFIX = f"bizmitra-bench-dashboard-{os.getpid()}"
BIG = 500
CHROMIUM = "/usr/bin/chromium"


def figures(label: str, values: list[float], extra: str = "") -> str:
    if not values:
        return f"  {label:<34} no samples"
    return (
        f"  {label:<34} p50 {statistics.median(values):7.1f} ms   p95 {percentile(values, 95):7.1f} ms"
        f"   max {max(values):7.1f} ms   (n={len(values)}){extra}"
    )


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def seed(conversations: int, messages: int) -> int:
    """Contacts, conversations and messages (bulk inserts through the models, so new columns
    get their defaults); returns the id of the conversation holding 500 messages."""
    from django.db import connection
    from django.utils import timezone

    from conversations.models import Contact, Conversation, Message

    rng = random.Random(7)
    now = timezone.now()
    names = ["Asha", "Ravi", "Meena", "Arjun", "Priya", "Kiran", "Sunita", "Vikram", "Neha", "Rahul"]
    surnames = ["Rao", "Sharma", "Patel", "Iyer", "Khan", "Das", "Nair", "Gupta", "Singh", "Joshi"]
    words = "price delivery order thanks tomorrow please available booking hello payment size colour".split()
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                wa_id=f"91{9000000000 + i}",
                profile_name=f"{rng.choice(names)} {rng.choice(surnames)}",
                last_inbound_at=now - timedelta(minutes=i * 3),
            )
            for i in range(1, conversations + 1)
        ],
        batch_size=5000,
    )
    rows = Conversation.objects.bulk_create(
        [
            Conversation(
                contact=contact,
                phone_number_id=PHONE_NUMBER_ID,
                status="handed_off" if i % 7 == 0 else "open",
                last_message_at=now - timedelta(minutes=(i + 1) * 3),
            )
            for i, contact in enumerate(contacts)
        ],
        batch_size=5000,
    )
    per = max(1, (messages - BIG) // max(1, conversations - 1))
    batch: list[Message] = []
    serial = 0
    for index, conversation in enumerate(rows):
        count = BIG if index == 0 else per
        for k in range(count):
            serial += 1
            inbound = k % 2 == 0
            at = conversation.last_message_at - timedelta(minutes=(count - k) * 2)
            batch.append(
                Message(
                    conversation=conversation,
                    direction="in" if inbound else "out",
                    type="text",
                    body=" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))),
                    wamid=f"wamid.bench{serial}",
                    status="received" if inbound else rng.choice(["sent", "delivered", "read", "read", "failed"]),
                    timestamp=at,
                )
            )
            if len(batch) >= 5000:
                Message.objects.bulk_create(batch)
                batch = []
    if batch:
        Message.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        for table in ("conversations_contact", "conversations_conversation", "conversations_message"):
            cursor.execute(f"ANALYZE {table}")
    return rows[0].pk


def server_phase(args, big_id: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    with schema_context(SCHEMA):
        user = get_user_model().objects.get(email=OWNER)
        client = Client(HTTP_HOST=DOMAIN)
        client.force_login(user)
    connection.set_schema_to_public()

    first = client.get("/?fragment=rows", HTTP_HX_REQUEST="true")
    cursor = (
        first.content.decode().split("cursor=", 1)[1].split("&", 1)[0].split('"', 1)[0]
        if b"cursor=" in first.content
        else ""
    )
    pages = {
        "inbox page (full)": ("/", {}),
        "list fragment (filter: bot)": (
            "/?filter=bot",
            {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "conversation-list"},
        ),
        "search 'Sharma'": ("/?q=Sharma", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "conversation-list"}),
        "search message text 'colour'": (
            "/?q=colour",
            {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "conversation-list"},
        ),
        "next page (cursor)": (f"/?fragment=rows&cursor={cursor}", {"HTTP_HX_REQUEST": "true"}),
        f"conversation page ({BIG} messages)": (f"/c/{big_id}/", {}),
        f"conversation fragment ({BIG} msgs)": (
            f"/c/{big_id}/",
            {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "conversation"},
        ),
        f"thread fragment ({BIG} messages)": (f"/c/{big_id}/thread/", {"HTTP_HX_REQUEST": "true"}),
    }
    print()
    print(f"== server time per page (in process; {args.requests} requests each after 3 warm-ups) ==")
    for label, (path, headers) in pages.items():
        for _ in range(3):
            client.get(path, **headers)
        times = []
        counter = QueryCounter()
        for i in range(args.requests):
            if i == 0:
                with connection.execute_wrapper(counter):
                    t0 = time.perf_counter()
                    response = client.get(path, **headers)
                    times.append((time.perf_counter() - t0) * 1000)
            else:
                t0 = time.perf_counter()
                response = client.get(path, **headers)
                times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (label, response.status_code)
        print(figures(label, times, f"   SQL queries: {counter.count}"))
        connection.set_schema_to_public()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        client.get(f"/c/{big_id}/thread/", HTTP_HX_REQUEST="true")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def live_phase(args, env: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    from conversations.whatsapp.sandbox import GraphSandbox

    logdir = ROOT / "var" / "bench-logs"
    web_url = f"http://127.0.0.1:{args.port}"
    sandbox = GraphSandbox(webhook_url=f"{web_url}/webhooks/whatsapp/", app_secret=APP_SECRET, auto_statuses=())
    sandbox.start()
    sandbox.register_number(PHONE_NUMBER_ID, "bench-token")
    ws_port = args.port + 1
    env = {
        **env,
        "WHATSAPP_GRAPH_URL": sandbox.base_url,
        "LIVE_WEBSOCKET_URL": f"ws://{{host}}:{ws_port}/ws/inbox/",
        "OPENAI_API_KEY": "",
    }
    granian = [str(ROOT / ".venv" / "bin" / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
    granian += ["--port", str(args.port), "--workers", "2", "--blocking-threads", "4", "--log-level", "warning"]
    granian += ["--static-path-mount", str(ROOT / "static"), "bizmitra.wsgi:application"]
    web = start(granian, env, "dashboard-granian", logdir)
    realtime = start(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(ws_port), "bizmitra.asgi:application"],
        env,
        "dashboard-daphne",
        logdir,
    )
    worker = start(
        [sys.executable, "-m", "celery", "-A", "bizmitra", "worker", "-Q", queues_arg(PREFIX), "--concurrency", "2"]
        + ["-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env,
        "dashboard-celery-worker",
        logdir,
    )
    try:
        wait_http(f"{web_url}/healthz")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-dev-shm-usage", f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1"],
            )
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"http://{DOMAIN}:{args.port}/login/")
            page.get_by_label("Email").fill(OWNER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("#inbox[data-live=connected]", timeout=30_000)
            # The page stamps each new row with the wall-clock time it entered the DOM.
            page.evaluate(
                """() => { window.__seen = {}; new MutationObserver((ms) => {
                  const t = performance.timeOrigin + performance.now();
                  for (const m of ms) for (const n of m.addedNodes)
                    if (n.id && n.id.startsWith('row-')) window.__seen[n.textContent] ||= t;
                }).observe(document.getElementById('list-rows'), {childList: true}); }"""
            )
            latencies, missing, to_event, to_dom = [], 0, [], []
            for _ in range(args.live):
                token = uuid.uuid4().hex[:10]
                wa_id = "1999" + str(uuid.uuid4().int)[:9]
                t0 = time.time() * 1000
                sandbox.inject_text(PHONE_NUMBER_ID, wa_id, f"bench {token}", profile_name=f"Live {token}")
                try:
                    page.wait_for_selector(f"li.row:has-text('{token}')", timeout=10_000)
                    seen = page.evaluate(
                        "(tok) => { for (const [k, v] of Object.entries(window.__seen)) if (k.includes(tok)) return v;"
                        " return null; }",
                        token,
                    )
                    latencies.append((seen if seen else time.time() * 1000) - t0)
                    row_id = page.get_attribute(f"li.row:has-text('{token}')", "data-conversation-id")
                    arrived = page.evaluate(
                        "(cid) => { const a = bzm.live.arrivals().find((e) => e.event === 'message.received'"
                        " && String(e.conversation_id) === cid); return a ? a.t : null; }",
                        row_id,
                    )
                    if arrived and seen:
                        to_event.append(arrived - t0)
                        to_dom.append(seen - arrived)
                except Exception:
                    missing += 1
            browser.close()
        print()
        print("== webhook POST -> new row rendered in Chromium (granian + daphne + worker + sandbox) ==")
        print(figures("webhook -> row in the DOM", latencies) + (f"   not shown: {missing}" if missing else ""))
        print(figures("  of which: webhook -> event at page", to_event))
        print(figures("  of which: event -> row rendered", to_dom))
    finally:
        stop(worker)
        stop(realtime)
        stop(web)
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page")
    parser.add_argument("--live", type=int, default=30, help="webhook-to-screen round trips")
    parser.add_argument("--port", type=int, default=8776)
    parser.add_argument("--no-browser", action="store_true", help="skip phase 3")
    parser.add_argument("--profile", action="store_true", help="cProfile one 500-message thread render")
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
    from django.db import connection
    from django_tenants.utils import schema_context

    from tenants.services import public_tenant_ensure, tenant_onboard

    public_tenant_ensure(domain="localhost")
    tenant_onboard(
        name="Dashboard Bench",
        schema_name=SCHEMA,
        domain=DOMAIN,
        phone_number_id=PHONE_NUMBER_ID,
        access_token="bench-token",
        owner_email=OWNER,
        owner_password=PASSWORD,
        client_code="DASHBENCH",
    )
    log(f"seeding {args.conversations:,} conversations and {args.messages:,} messages")
    t0 = time.monotonic()
    with schema_context(SCHEMA):
        big_id = seed(args.conversations, args.messages)
    connection.set_schema_to_public()
    log(f"seeded in {time.monotonic() - t0:.1f} s")
    try:
        server_phase(args, big_id)
        if not args.no_browser:
            live_phase(args, env)
    finally:
        connection.close()
        if not args.keep:
            recreate_database(env["DATABASE_URL"], BENCH_DB, create=False)


if __name__ == "__main__":
    main()
