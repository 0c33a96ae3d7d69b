"""Benchmark: how fast one worker stores inbound webhook parts (not a test).

Run:  .venv/bin/python bench/ingest_bulk.py [--parts 20] [--batch 100] [--contacts 1000]
      [--user-ids] [--keep]

In-process, on a scratch database ``bizmitra_bench_ingest`` (dropped first, migrated, one
bench tenant onboarded), nothing else running:
1. "store": ``inbound_part_store`` on ``--parts`` parts of ``--batch`` text messages from
   ``--contacts`` people (message i comes from person i mod contacts, so with the defaults
   the first half of the parts creates the contacts and the second half updates them),
   each part in its own transaction as ``ingest`` runs it. Prints messages/s stored and
   committed, time per part, SQL statements per part, and, apart, what the listeners of
   ``message.received``/``messages.received`` cost after the commit in this process
   (live-inbox broadcast, lead scoring, the engine's task publish to Redis).
2. "again": the same parts once more (a Meta redelivery): nothing is stored.
3. "delivery": the same shape as signed-webhook bodies through ``delivery_store`` and
   ``delivery_process`` (JSON parse, split per number, route, store, listeners), one by one.
4. "batch": the same again through ``deliveries_process``, ``--relay-batch`` deliveries a
   call, as the relay's tasks run them (claimed together, each tenant's share stored at once).
5. "statuses": the sent/delivered/read webhooks of ``--statuses`` replies (one status a
   webhook, as Meta sends them, shuffled), one by one and then ``--relay-batch`` a call.
``--user-ids`` gives every contact a business-scoped user id as well (Meta, 2026);
``--without-listeners`` detaches the event listeners to time the store alone.

Needs PostgreSQL and Redis reachable as for `make test` (scripts/services.py finds them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import log, percentile, recreate_database, services_env  # noqa: E402

BENCH_DB = "bizmitra_bench_ingest"
SCHEMA = "benchingest"
PHONE_NUMBER_ID = "900000000000091"
PREFIX = f"bizmitra-bench-ingest-{os.getpid()}"


class QueryCounter:
    """A ``connection.execute_wrapper`` that counts the SQL statements run."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def bodies(parts: int, batch: int, contacts: int, *, user_ids: bool) -> list[dict]:
    """Meta webhook bodies, one per part, with unique wamids and rising timestamps."""
    run = uuid.uuid4().hex[:8]
    people = [f"1777{i:08d}" for i in range(contacts)]
    base = int(time.time()) - parts * batch
    out = []
    for p in range(parts):
        messages, senders = [], {}
        for j in range(batch):
            i = p * batch + j
            wa_id = people[i % contacts]
            message = {
                "from": wa_id,
                "id": f"wamid.bench{run}{i:07d}",
                "timestamp": str(base + i),
                "type": "text",
                "text": {"body": "hi"},
            }
            sender = {"profile": {"name": f"Customer {wa_id}"}, "wa_id": wa_id}
            if user_ids:
                message["from_user_id"] = sender["user_id"] = f"IN.{int(wa_id) * 7919:020d}"
            messages.append(message)
            senders[wa_id] = sender
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": list(senders.values()),
            "messages": messages,
        }
        out.append(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
            }
        )
    return out


def store_phase(label: str, parsed_parts: list) -> None:
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from conversations.services.inbound import inbound_part_store

    store_times, cpu_times, listener_times, statements, listener_statements = [], [], [], [], []
    stored = 0
    with schema_context(SCHEMA):
        for messages in parsed_parts:
            counter = QueryCounter()
            marks: dict[str, float] = {}
            started, cpu_started = time.perf_counter(), time.process_time()
            with connection.execute_wrapper(counter), transaction.atomic():
                # Registered first, so it runs first after COMMIT: the split between
                # storing (statements + commit) and the listeners' after-commit work.
                transaction.on_commit(
                    lambda marks=marks, counter=counter: marks.update(
                        committed=time.perf_counter(), cpu=time.process_time(), count=counter.count
                    )
                )
                stored += len(inbound_part_store(messages=messages))
                store_statements = counter.count
            cpu_times.append(marks["cpu"] - cpu_started)
            ended = time.perf_counter()
            store_times.append(marks["committed"] - started)
            listener_times.append(ended - marks["committed"])
            statements.append(store_statements)
            listener_statements.append(counter.count - marks["count"])
    total = sum(store_times)
    n = sum(len(m) for m in parsed_parts)
    print(f"== {label}: inbound_part_store, {len(parsed_parts)} parts of {len(parsed_parts[0])} messages ==")
    print(f"  messages given {n}, stored {stored}, in {total:.3f} s: {n / total:,.0f} messages/s (statements + commit)")
    print(
        f"  per part   p50 {statistics.median(store_times) * 1000:7.1f} ms"
        f"   p99 {percentile(store_times, 99) * 1000:7.1f} ms"
        f"   of which CPU in this process p50 {statistics.median(cpu_times) * 1000:6.1f} ms"
        f"   statements per part min {min(statements)} max {max(statements)}"
    )
    print(
        f"  listeners after commit, per part: p50 {statistics.median(listener_times) * 1000:7.1f} ms"
        f"   statements p50 {statistics.median(listener_statements):.0f}"
        f"   (with them: {n / (total + sum(listener_times)):,.0f} messages/s)"
    )


def delivery_phase(payloads: list[dict]) -> None:
    from django.db import connection, transaction

    from conversations.whatsapp.ingest import delivery_process, delivery_store

    ids = [delivery_store(body=json.dumps(p).encode()) for p in payloads]
    times, listener_times, statements = [], [], []
    for delivery_id in ids:
        counter = QueryCounter()
        marks: dict[str, float] = {}
        started = time.perf_counter()
        # The outer transaction only moves the commit (and the listeners after it) to
        # where the marker can split them; delivery_process's own becomes a savepoint.
        with connection.execute_wrapper(counter), transaction.atomic():
            transaction.on_commit(lambda marks=marks: marks.update(committed=time.perf_counter()))
            assert delivery_process(delivery_id=delivery_id)
            statements.append(counter.count)
        times.append(marks["committed"] - started)
        listener_times.append(time.perf_counter() - marks["committed"])
    n = sum(len(p["entry"][0]["changes"][0]["value"]["messages"]) for p in payloads)
    total = sum(times)
    print(f"== delivery: delivery_process (claim, parse, route, store), {len(ids)} deliveries ==")
    print(f"  {n} messages in {total:.3f} s: {n / total:,.0f} messages/s (statements + commit)")
    print(
        f"  per delivery p50 {statistics.median(times) * 1000:7.1f} ms   p99 {percentile(times, 99) * 1000:7.1f} ms"
        f"   statements p50 {statistics.median(statements):.0f}"
    )
    print(
        f"  listeners after commit, per delivery: p50 {statistics.median(listener_times) * 1000:7.1f} ms"
        f"   (with them: {n / (total + sum(listener_times)):,.0f} messages/s)"
    )


def batch_phase(payloads: list[dict], size: int) -> None:
    """The relay's way: deliveries claimed and stored ``size`` at a time (``deliveries_process``)."""
    from conversations.whatsapp.ingest import deliveries_process, delivery_store

    ids = [delivery_store(body=json.dumps(p).encode()) for p in payloads]
    started = time.perf_counter()
    for start in range(0, len(ids), size):
        assert deliveries_process(delivery_ids=ids[start : start + size]) == len(ids[start : start + size])
    total = time.perf_counter() - started
    n = sum(len(p["entry"][0]["changes"][0]["value"]["messages"]) for p in payloads)
    print(f"== batch: deliveries_process, {len(ids)} deliveries {size} a task (listeners included) ==")
    print(f"  {n} messages in {total:.3f} s: {n / total:,.0f} messages/s")


def statuses_phase(count: int, size: int) -> None:
    """Meta's one-status webhooks (sent, delivered, read of ``count`` replies, shuffled):
    one by one (``delivery_process``) and then ``size`` a task (``deliveries_process``)."""
    import random

    from django.utils import timezone
    from django_tenants.utils import schema_context

    from conversations.models import Contact, Conversation, Message
    from conversations.whatsapp.ingest import deliveries_process, delivery_process, delivery_store

    def replies(label: str) -> list[int]:
        with schema_context(SCHEMA):
            person = Contact.objects.create(wa_id=f"1888{uuid.uuid4().int % 10**8:08d}")
            conversation = Conversation.objects.create(contact=person, phone_number_id=PHONE_NUMBER_ID)
            wamids = [f"wamid.status{label}{uuid.uuid4().hex}" for _ in range(count)]
            Message.objects.bulk_create(
                Message(
                    conversation=conversation,
                    direction="out",
                    type="text",
                    body="menu",
                    wamid=w,
                    status="sending",
                    timestamp=timezone.now(),
                )
                for w in wamids
            )
        now = int(time.time())
        items = [(w, s, now + k) for w in wamids for k, s in enumerate(("sent", "delivered", "read"))]
        random.Random(7).shuffle(items)
        ids = []
        for wamid, status, at in items:
            value = {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
                "statuses": [{"id": wamid, "status": status, "timestamp": str(at), "recipient_id": "18880000000"}],
            }
            body = {
                "object": "whatsapp_business_account",
                "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
            }
            ids.append(delivery_store(body=json.dumps(body).encode()))
        return ids

    print(f"== statuses: {3 * count} one-status webhooks for {count} replies, shuffled ==")
    ids = replies("one")
    started = time.perf_counter()
    for delivery_id in ids:
        assert delivery_process(delivery_id=delivery_id)
    one = time.perf_counter() - started
    print(f"  one by one (delivery_process):    {one:.3f} s, {len(ids) / one:,.0f} statuses/s")
    ids = replies("many")
    started = time.perf_counter()
    for start in range(0, len(ids), size):
        deliveries_process(delivery_ids=ids[start : start + size])
    many = time.perf_counter() - started
    print(f"  {size} a task (deliveries_process): {many:.3f} s, {len(ids) / many:,.0f} statuses/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100, help="messages per part (Meta sends up to 1,000)")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--user-ids", action="store_true", help="contacts carry a business-scoped user id too")
    parser.add_argument("--relay-batch", type=int, default=25, help="deliveries a relay task carries")
    parser.add_argument("--statuses", type=int, default=300, help="replies whose 3 status webhooks are applied")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--profile", action="store_true", help="print where the store phase spends its CPU time")
    parser.add_argument(
        "--without-listeners",
        action="store_true",
        help="detach the event listeners (lead scoring, live inbox, engine publish) to time the store alone",
    )
    args = parser.parse_args()

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
        PYTHONUNBUFFERED="1",
    )
    os.environ.update(env)
    log(f"scratch database {BENCH_DB}")
    recreate_database(env["DATABASE_URL"], BENCH_DB)
    subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--shared", "-v", "0"], cwd=ROOT, env=env, check=True
    )

    import django

    django.setup()
    import redis
    from django.db import connection

    from conversations.whatsapp.parsing import parse_webhook
    from tenants.services import public_tenant_ensure, tenant_onboard

    if args.without_listeners:
        # Their work (and the live inbox's broadcast thread, which competes for the GIL
        # with the next part) is theirs, not the store's: measured apart on request.
        from bizmitra import events

        events._listeners.clear()
    public_tenant_ensure(domain="localhost")
    tenant_onboard(
        name="Ingest Bench",
        schema_name=SCHEMA,
        domain="ingest.localhost",
        phone_number_id=PHONE_NUMBER_ID,
        access_token="bench-token",
        owner_email="owner@ingest.localhost",
        owner_password="bench-password",
        client_code="INGBENCH",
    )
    try:
        shape = f"{args.parts} x {args.batch} messages from {args.contacts} contacts"
        log(shape + (", with user ids" if args.user_ids else ""))
        payloads = bodies(args.parts, args.batch, args.contacts, user_ids=args.user_ids)
        parsed = [parse_webhook(p).messages for p in payloads]
        print()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(store_phase, "store (profiled)", parsed)
            # PROFILE_SORT (e.g. tottime) and PROFILE_FILTER (a regex on file names) narrow it.
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
            stats.print_stats(os.environ.get("PROFILE_FILTER", ""), 30)
        else:
            store_phase("store", parsed)
        store_phase("again (a redelivery of the same parts)", parsed)
        delivery_phase(bodies(args.parts, args.batch, args.contacts, user_ids=args.user_ids))
        batch_phase(bodies(args.parts, args.batch, args.contacts, user_ids=args.user_ids), args.relay_batch)
        statuses_phase(args.statuses, args.relay_batch)
    finally:
        redis_client = redis.Redis.from_url(env["REDIS_URL"])
        # The engine tasks the listeners queued (no worker runs here) and kombu's bindings.
        for pattern in (f"{PREFIX}*", f"_kombu.binding.{PREFIX}*"):
            for key in redis_client.scan_iter(pattern):
                redis_client.delete(key)
        connection.close()
        if not args.keep:
            recreate_database(env["DATABASE_URL"], BENCH_DB, create=False)


if __name__ == "__main__":
    main()
