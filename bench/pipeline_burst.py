"""A burst of inbound messages through the whole reply pipeline, as production runs it.

The stack of ``bench/stack.py`` — granian, the Celery workers and beat exactly as the
Procfile starts them, a scratch database — with the Graph sandbox in this process
(statuses off, so only replies cost). The tenant's number is raised to
``--mps`` messages per second, so Meta's default 80/s is not what binds. Then N signed
inbound "hi" texts from K contacts are posted as Meta batches of B (message j comes from
contact j mod K, so every contact's first message is in the first K), and it prints:

- time to store all N messages, and messages stored per second;
- decisions per second (finished engine decisions);
- replies per second at the sandbox;
- first-reply latency per contact, p50/p99 (post of the batch holding the contact's first
  message → that contact's first reply at the sandbox);
- duplicate replies (a row sent twice, or more replies than messages for a contact): must be 0;
- SQL queries per decision (a rule decision, measured in this process on the same database).

``--faults``: while the backlog is being worked, kill every worker with SIGKILL and restart
the stack's own Redis (nothing on disk: every queued task is lost), then start the workers
again, and wait until every message is answered; prints unanswered and answered-twice
counts after the faults and the time to settle. ``--pg-restart`` also restarts this
machine's PostgreSQL cluster (``pg_ctlcluster``) — it disturbs anything else using it.

    .venv/bin/python bench/pipeline_burst.py                # N=2000 K=1000 B=100
    .venv/bin/python bench/pipeline_burst.py --faults
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizmitra.settings.base")

from bench.stack import Stack, inbound_batch  # noqa: E402
from bench.support import load_average, log, own_cpu_seconds, percentile, yardstick  # noqa: E402


def wait(predicate, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--messages", type=int, default=2000)
    parser.add_argument("-k", "--contacts", type=int, default=1000)
    parser.add_argument("-b", "--batch", type=int, default=100)
    parser.add_argument("--mps", type=int, default=1000, help="the number's messages_per_second")
    parser.add_argument("--posters", type=int, default=4, help="concurrent webhook POSTs")
    parser.add_argument("--faults", action="store_true", help="kill workers and restart Redis mid-backlog")
    parser.add_argument("--pg-restart", action="store_true", help="with --faults: restart PostgreSQL too")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    from conversations.whatsapp.sandbox import GraphSandbox

    sandbox = GraphSandbox(app_secret="stack-app-secret", auto_statuses=()).start()
    name = f"bench_pipeline_{os.getpid()}"
    stack = Stack(name, sandbox=sandbox, own_redis=args.faults, messages_per_second=args.mps)
    log(f"starting the stack ({name})")
    stack.start()
    try:
        run(stack, sandbox, args)
        if not args.faults:
            queries_per_decision(stack)
    finally:
        stack.stop()
        sandbox.stop()


def run(stack: Stack, sandbox, args) -> None:
    import httpx

    time.sleep(3)  # the workers' pools and the relay's leader election
    contacts = [f"91{7000000000 + i}" for i in range(args.contacts)]
    items = [(contacts[j % args.contacts], f"wamid.B{uuid.uuid4().hex}", "hi") for j in range(args.messages)]
    batches = [items[i : i + args.batch] for i in range(0, len(items), args.batch)]
    first_post: dict[str, float] = {}
    posted_at: list[float] = [0.0] * len(batches)
    statuses: list[int] = []
    lock = threading.Lock()
    next_batch = iter(range(len(batches)))

    def poster() -> None:
        with httpx.Client() as client:
            while True:
                with lock:
                    index = next(next_batch, None)
                if index is None:
                    return
                payload = inbound_batch(stack.phone_number_id, batches[index])
                posted_at[index] = time.monotonic()
                statuses.append(stack.post_webhook(payload, client))

    before = len(sandbox.sent_messages)
    cpu_before, bench_before = stack.cpu_seconds(), own_cpu_seconds()
    t0 = time.monotonic()
    threads = [threading.Thread(target=poster) for _ in range(args.posters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    t_posted = time.monotonic()
    for index, batch in enumerate(batches):
        for wa_id, _, _ in batch:
            first_post.setdefault(wa_id, posted_at[index])
    log(f"posted {len(batches)} batches in {t_posted - t0:.2f} s; answers {Counter(statuses)}")

    count_in = f'SELECT count(*) FROM "{stack.schema}".conversations_message WHERE direction = %s'
    count_decided = f'SELECT count(*) FROM "{stack.schema}".conversations_enginedecision WHERE finished_at IS NOT NULL'
    faults_at = None
    if args.faults:
        wait(
            lambda: len(sandbox.sent_messages) - before >= args.messages // 4, args.timeout, "a quarter of the replies"
        )
        faults_at = time.monotonic()
        log("faults: SIGKILL every worker, restart Redis (queues lost)")
        for process in ("worker", "background", "beat"):
            stack.process_kill(process)
        stack.redis_kill()
        if args.pg_restart:
            log("faults: restarting PostgreSQL")
            subprocess.run(["pg_ctlcluster", "15", "main", "restart", "-m", "fast"], check=False)
        stack.redis_start()
        for process in ("worker", "background", "beat"):
            stack.process_start(process)
        last_fault = time.monotonic()

    t_stored = wait(
        lambda: stack.sql(count_in, ("in",))[0][0] >= args.messages, args.timeout, "every message to be stored"
    )
    t_decided = wait(lambda: stack.sql(count_decided)[0][0] >= args.messages, args.timeout, "every decision")
    t_replied = wait(
        lambda: len(sandbox.sent_messages) - before >= args.messages, args.timeout, "a reply to every message"
    )
    cpu_after, bench_after = stack.cpu_seconds(), own_cpu_seconds()
    time.sleep(5 if not args.faults else 30)  # late duplicates would show up here
    sent = sandbox.sent_messages[before:]

    per_contact: dict[str, list[float]] = defaultdict(list)
    for record in sent:
        per_contact[record["wa_id"]].append(record["received_at"])
    expected = Counter(wa_id for wa_id, _, _ in items)
    rows_sent = Counter(record["payload"].get("biz_opaque_callback_data") for record in sent)
    twice = sum(n - 1 for n in rows_sent.values() if n > 1)
    extra = sum(max(0, len(per_contact[c]) - n) for c, n in expected.items())
    missing = sum(max(0, n - len(per_contact[c])) for c, n in expected.items())
    firsts = [min(per_contact[c]) - first_post[c] for c in expected if per_contact[c]]
    times = sorted(r["received_at"] for r in sent)
    reply_span = times[-1] - times[0] if len(times) > 1 else 0.0

    print()
    print(f"== pipeline burst: N={args.messages} K={args.contacts} B={args.batch}, number at {args.mps}/s ==")
    print(f"webhook POSTs                  {len(batches)} in {t_posted - t0:.2f} s  ({Counter(statuses)})")
    print(f"all messages stored            {t_stored - t0:.2f} s  ({args.messages / (t_stored - t0):.0f} msg/s)")
    print(
        f"all decisions                  {t_decided - t0:.2f} s  ({args.messages / (t_decided - t0):.0f} decisions/s)"
    )
    print(
        f"replies at the sandbox         {len(sent)} in {reply_span:.2f} s  ({len(sent) / max(reply_span, 1e-9):.0f}/s)"
    )
    print(
        f"first reply per contact        p50 {statistics.median(firsts):.2f} s   p99 {percentile(firsts, 99):.2f} s"
        f"   max {max(firsts):.2f} s"
    )
    print(f"duplicate replies              {twice + extra}  (rows sent twice {twice}, extra per contact {extra})")
    print(f"unanswered                     {missing}")
    if faults_at is not None:
        print(f"settled after the last fault   {t_replied - last_fault:.2f} s")
    else:
        # Where the CPU went, per reply: independent of how busy the rest of the machine is.
        used = {name: cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0) for name in cpu_after}
        used["bench (sandbox, posters)"] = bench_after - bench_before
        shares = "  ".join(f"{name} {seconds * 1000 / args.messages:.2f}" for name, seconds in used.items())
        print(f"CPU ms per reply               {sum(used.values()) * 1000 / args.messages:.2f}  ({shares})")
        # CPU figures differ between machines of the same size: this says how fast this one is.
        speed = f"{yardstick():.2f} s for 10 million Python additions (load {load_average()})"
        print(f"machine yardstick              {speed}")


def queries_per_decision(stack: Stack) -> None:
    """A rule decision's SQL statements (BEGIN and COMMIT included), counted in this process on
    the stack's database, with the workers stopped so they do not decide these messages first."""
    for process in ("worker", "background"):
        stack.process_kill(process)
    os.environ.update(
        {k: stack.env[k] for k in ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "CELERY_TASK_DEFAULT_QUEUE")}
    )
    os.environ["META_APP_SECRET"] = stack.env["META_APP_SECRET"]
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import schema_context

    from conversations.engine.services import engine_decide
    from conversations.services.inbound import inbound_part_store
    from conversations.whatsapp.parsing import parse_webhook

    counts = []
    with schema_context(stack.schema):
        for i in range(21):
            wa_id = f"91{8000000000 + i}"
            payload = inbound_batch(stack.phone_number_id, [(wa_id, f"wamid.Q{uuid.uuid4().hex}", "hi")])
            [message] = inbound_part_store(messages=parse_webhook(payload).messages)
            connection.cursor().execute("SELECT 1")  # a worker sets the schema once per task
            with CaptureQueriesContext(connection) as statements:
                engine_decide(message=message)
            if i:  # the first one builds the per-process snapshots, as a worker's first message does
                counts.append(len(statements.captured_queries))
    connection.close()
    print(f"SQL statements per decision    {statistics.median(counts):.0f} (rule path, built-in greeting)")


if __name__ == "__main__":
    main()
