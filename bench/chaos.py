"""Chaos bench: the whole product under process, broker and database faults (issue 13 §1).

Runs its own PostgreSQL (initdb + pg_ctl on a spare port, under ``var/chaos/``) and its own
Redis (no persistence), so it can restart both; the stack as the Procfile runs it
(``bench/stack.py``: granian, both Celery workers, beat); the Graph sandbox in this process,
whose status webhooks come back shuffled (read before delivered before sent, often before
the worker has recorded the wamid, so they are parked first).

It replays N inbound deliveries (Meta bodies from ``bench.stack.inbound_batch``: K contacts,
batches of 1–20 messages, 30 % of the messages delivered again, alone or inside a later
batch; every POST that is not answered 200 is retried, as Meta does) while it:

- kills every Celery worker and beat with SIGKILL and starts them again;
- kills its Redis and starts it empty (every queued task is gone);
- restarts PostgreSQL (``pg_ctl restart -m fast``);
- kills the web server with SIGKILL in the middle of the POSTs and starts it again.

Then it waits for the sweeps and prints: inbound stored vs unique wamids, duplicate rows,
replies per inbound (missing, duplicate), sends left ``unknown``, status regressions,
webhook answers that were 200 without a stored row, 5xx and refused connections, and the
time to settle after the last fault. Targets: all zero except 5xx/refused, settle < 2 min.

Sweep horizons are shortened as in ``tests/test_reply_pipeline_faults.py`` (a send in doubt
is reconciled after 20 s instead of 2 min), so a run takes minutes, not hours.

    .venv/bin/python bench/chaos.py            # N=10000 K=2000
    .venv/bin/python bench/chaos.py --quick    # N=1000 K=200
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizmitra.settings.base")

from bench.stack import APP_SECRET, Stack, free_port, inbound_batch  # noqa: E402
from bench.support import load_average, log, own_cpu_seconds, yardstick  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
FAST_SWEEPS = {
    "ENGINE_OWED_AFTER_SECONDS": "3",
    "ENGINE_SWEEP_EVERY_SECONDS": "2",
    "ENGINE_CLAIM_STALE_SECONDS": "5",
    "WHATSAPP_SEND_QUEUED_STUCK_AFTER_SECONDS": "3",
    "WHATSAPP_SEND_STUCK_AFTER_SECONDS": "20",
    "WHATSAPP_RECONCILE_EVERY_SECONDS": "2",
    "WHATSAPP_WEBHOOK_STUCK_AFTER_SECONDS": "3",
    "WHATSAPP_WEBHOOK_SWEEP_EVERY_SECONDS": "2",
}


class Postgres:
    """A throw-away PostgreSQL cluster of this bench's, so it can be restarted at will."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "pgdata"
        self.port = free_port()
        self.log = base / "postgres.log"

    def _as_postgres(self, *args: str) -> list[str]:
        # PostgreSQL refuses to run as root; this machine's sessions are root.
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)

    def start(self) -> Postgres:
        if self.base.exists():
            shutil.rmtree(self.base)
        self.base.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        subprocess.run(
            self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"),
            check=True,
            capture_output=True,
        )
        conf = self.data / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.base}'\n"
                "max_connections = 300\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        self.ctl("start", "-w", "-l", str(self.log))
        return self

    def ctl(self, *args: str) -> None:
        subprocess.run(self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args), check=True)

    def restart(self) -> None:
        self.ctl("restart", "-m", "fast", "-w", "-l", str(self.log))

    def stop(self) -> None:
        try:
            self.ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


def plan(args) -> tuple[list[list[tuple[str, str, str]]], int]:
    """The deliveries: batches of (wa_id, wamid, text); 30 % of messages come again, alone or
    inside a later batch. Returns the batches and the number of unique messages."""
    rng = random.Random(args.seed)
    contacts = [f"91{7100000000 + i}" for i in range(args.contacts)]
    unique = [(contacts[j % args.contacts], f"wamid.C{uuid.uuid4().hex}", "hi") for j in range(args.deliveries)]
    batches: list[list[tuple[str, str, str]]] = []
    i = 0
    while i < len(unique):
        size = rng.randint(1, 20)
        batches.append(list(unique[i : i + size]))
        i += size
    for item in rng.sample(unique, int(len(unique) * 0.3)):
        if rng.random() < 0.5:
            batches.insert(rng.randint(len(batches) // 10, len(batches)), [item])  # again, alone
        else:
            later = batches[rng.randint(len(batches) // 10, len(batches) - 1)]
            later.insert(rng.randint(0, len(later)), item)  # again, inside a later batch
    return batches, len(unique)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--deliveries", type=int, default=10_000, help="unique inbound messages")
    parser.add_argument("-k", "--contacts", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="1,000 messages from 200 contacts")
    parser.add_argument("--posters", type=int, default=4)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    if args.quick:
        args.deliveries, args.contacts = 1000, 200

    from conversations.whatsapp.sandbox import GraphSandbox

    base = ROOT / "var" / "chaos"
    pg = Postgres(base / "pg").start()
    log(f"PostgreSQL of the bench on port {pg.port}")
    # Meta retries a webhook for days; the sandbox keeps trying through the web server's death.
    sandbox = GraphSandbox(
        app_secret=APP_SECRET,
        auto_statuses=("read", "delivered", "sent"),  # shuffled: read first, sent last
        status_delay=0.02,
        webhook_retry_delays=(0.5, 1, 2, 4, 8, 15, 30, 30, 30),
    ).start()
    name = f"chaos_{os.getpid()}"
    stack = Stack(
        name,
        sandbox=sandbox,
        own_redis=True,
        messages_per_second=1000,
        env=FAST_SWEEPS,
        database_url=pg.url,
        logdir=base / "logs",
    )
    sandbox.webhook_url = f"http://127.0.0.1:{stack.web_port}/webhooks/whatsapp/"
    log(f"starting the stack ({name})")
    stack.start()
    try:
        run(stack, sandbox, pg, args)
    finally:
        stack.stop()
        sandbox.stop()
        pg.stop()


def run(stack: Stack, sandbox, pg: Postgres, args) -> None:
    import httpx

    batches, unique_count = plan(args)
    expected_per_contact = Counter()
    seen: set[str] = set()
    for batch in batches:
        for wa_id, wamid, _ in batch:
            if wamid not in seen:
                seen.add(wamid)
                expected_per_contact[wa_id] += 1
    log(f"{len(batches)} deliveries carrying {sum(map(len, batches))} messages ({unique_count} unique)")
    time.sleep(3)  # the workers' pools and the relay's leader election

    answers: Counter = Counter()
    ok_posts: list[list[str]] = []  # wamids of every POST answered 200
    lock = threading.Lock()
    next_batch = iter(range(len(batches)))
    posted = threading.Event()

    def poster() -> None:
        client = httpx.Client()
        while True:
            with lock:
                index = next(next_batch, None)
            if index is None:
                client.close()
                return
            payload = inbound_batch(stack.phone_number_id, batches[index])
            delay = 0.2
            while True:  # as Meta: retry until the answer is 200
                try:
                    status = stack.post_webhook(payload, client)
                except httpx.HTTPError:
                    status = "refused"
                    client.close()
                    client = httpx.Client()
                with lock:
                    answers[status] += 1
                    if status == 200:
                        ok_posts.append([wamid for _, wamid, _ in batches[index]])
                if status == 200:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 5)

    threads = [threading.Thread(target=poster, daemon=True) for _ in range(args.posters)]
    t0 = time.monotonic()
    for thread in threads:
        thread.start()

    def posts_done() -> int:
        with lock:
            return len(ok_posts)

    q_in = f"SELECT count(*) FROM \"{stack.schema}\".conversations_message WHERE direction = 'in'"

    def at_fraction(fraction: float, *, of: str = "stored") -> None:
        """Wait until ``fraction`` of the POSTs were answered 200 (``of="posted"``) or of the
        messages were stored (the backlog being worked), so each fault hits work in flight."""
        while True:
            if of == "posted":
                if posts_done() >= len(batches) * fraction or not any(t.is_alive() for t in threads):
                    return
            else:
                try:
                    if stack.sql(q_in)[0][0] >= unique_count * fraction:
                        return
                except Exception:  # noqa: BLE001 - the database may be restarting
                    pass
            time.sleep(0.1)

    faults: list[tuple[str, float]] = []

    at_fraction(0.5, of="posted")
    log("fault: SIGKILL the web server mid-request, start it again")
    stack.process_kill("web")
    time.sleep(1)
    stack.process_start("web")
    faults.append(("web killed", time.monotonic() - t0))

    at_fraction(0.1)
    log("fault: SIGKILL every worker and beat, then start them again")
    for process in ("worker", "background", "beat"):
        stack.process_kill(process)
    for process in ("worker", "background", "beat"):
        stack.process_start(process)
    faults.append(("workers killed", time.monotonic() - t0))

    at_fraction(0.3)
    log("fault: kill Redis, start it empty")
    stack.redis_kill()
    time.sleep(1)
    stack.redis_start()
    faults.append(("redis restarted", time.monotonic() - t0))

    at_fraction(0.5)
    log("fault: pg_ctl restart -m fast")
    pg.restart()
    faults.append(("postgres restarted", time.monotonic() - t0))

    at_fraction(0.8)
    log("fault: SIGKILL every worker and beat again")
    for process in ("worker", "background", "beat"):
        stack.process_kill(process)
    for process in ("worker", "background", "beat"):
        stack.process_start(process)
    last_fault = time.monotonic()
    faults.append(("workers killed", last_fault - t0))
    cpu_at_fault, bench_at_fault = stack.cpu_seconds(), own_cpu_seconds()

    for thread in threads:
        thread.join()
    posted.set()
    log(f"all deliveries answered 200 after {time.monotonic() - t0:.1f} s; answers {dict(answers)}")

    schema = stack.schema
    q_stored = f"SELECT count(*), count(DISTINCT wamid) FROM \"{schema}\".conversations_message WHERE direction = 'in'"
    q_owed = (
        f"SELECT count(*) FROM \"{schema}\".conversations_message m WHERE m.direction = 'in' AND NOT EXISTS ("
        f'SELECT 1 FROM "{schema}".conversations_enginedecision d WHERE d.message_id = m.id '
        "AND d.finished_at IS NOT NULL)"
    )
    q_unsent = (
        f"SELECT count(*) FROM \"{schema}\".conversations_message WHERE direction = 'out' "
        "AND status IN ('queued', 'sending')"
    )

    def sql(query: str) -> list[tuple]:
        for _ in range(50):
            try:
                return stack.sql(query)
            except Exception:  # noqa: BLE001 - the database may be restarting
                time.sleep(0.2)
        return stack.sql(query)

    def replies() -> list[dict]:
        return [r for r in sandbox.sent_messages if r["phone_number_id"] == stack.phone_number_id]

    q_deliveries = "SELECT count(*) FROM public.whatsapp_webhookdelivery WHERE state <> 'processed'"

    # When each condition of "settled" first held, after the last fault: where the tail is.
    first_held: dict[str, float] = {}

    q_backlog = (
        "SELECT state, attempts, count(*), round(extract(epoch FROM now() - min(received_at))) "
        "FROM public.whatsapp_webhookdelivery WHERE state <> 'processed' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    backlog_seen: list = []  # the webhook backlog as last seen before it emptied: what the tail was

    def backlog_empty() -> bool:
        if sql(q_deliveries)[0][0] == 0:
            return True
        rows = sql(q_backlog)
        if rows:  # else emptied between the two reads
            backlog_seen[:] = [(time.monotonic() - last_fault, rows)]
        return False

    def settled() -> bool:
        stored, _ = sql(q_stored)[0]
        held = {
            "all stored": stored >= unique_count,
            "webhook backlog empty": backlog_empty(),
            "every inbound decided": sql(q_owed)[0][0] == 0,
            "nothing left to send": sql(q_unsent)[0][0] == 0,
            "every reply at the sandbox": len(replies()) + unknown_count() >= unique_count,
            "sandbox's status webhooks all posted": sandbox.wait_idle(0.01),
        }
        for what, ok in held.items():
            if ok:
                first_held.setdefault(what, time.monotonic() - last_fault)
            else:
                first_held.pop(what, None)  # held, then not (a later status webhook): not yet
        return all(held.values())

    def unknown_count() -> int:
        q = f"SELECT count(*) FROM \"{schema}\".conversations_message WHERE direction = 'out' AND status = 'unknown'"
        return sql(q)[0][0]

    deadline = time.monotonic() + args.timeout
    while not settled():
        if time.monotonic() > deadline:
            log("did not settle before the timeout; figures below are as they stand")
            break
        time.sleep(0.5)
    settle = time.monotonic() - last_fault
    # Where the CPU went while settling: the processes started by the last fault, PostgreSQL's
    # backends still connected, and this process (the sandbox and the posters).
    cpu_settled, bench_settled = stack.cpu_seconds(), own_cpu_seconds()
    cpu_used = {name: cpu_settled[name] - cpu_at_fault.get(name, 0.0) for name in cpu_settled}
    cpu_used["bench (sandbox, posters)"] = bench_settled - bench_at_fault
    time.sleep(10)  # late duplicates and late statuses would show up here
    sandbox.wait_idle(30)

    stored, distinct = sql(q_stored)[0]
    duplicate_rows = sql(
        f'SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) n FROM "{schema}".conversations_message '
        "WHERE wamid IS NOT NULL GROUP BY wamid HAVING count(*) > 1) d"
    )[0][0]
    stored_wamids = {
        row[0] for row in sql(f"SELECT wamid FROM \"{schema}\".conversations_message WHERE direction = 'in'")
    }
    ok_without_row = sum(1 for wamids in ok_posts if any(w not in stored_wamids for w in wamids))
    sent = replies()
    per_row = Counter(r["payload"].get("biz_opaque_callback_data") for r in sent)
    per_contact = Counter(r["wa_id"] for r in sent)
    twice = sum(n - 1 for n in per_row.values() if n > 1)
    extra = sum(max(0, per_contact[c] - n) for c, n in expected_per_contact.items())
    missing = sum(max(0, n - per_contact[c]) for c, n in expected_per_contact.items())
    unknown = unknown_count()
    # A status went backwards if a later stage's time is recorded but the status is an earlier one.
    regressions = sql(
        f"SELECT count(*) FROM \"{schema}\".conversations_message WHERE direction = 'out' AND ("
        "(read_at IS NOT NULL AND status IN ('queued', 'sending', 'sent', 'delivered')) OR "
        "(delivered_at IS NOT NULL AND status IN ('queued', 'sending', 'sent')))"
    )[0][0]
    not_read = sql(
        f"SELECT count(*) FROM \"{schema}\".conversations_message WHERE direction = 'out' "
        "AND wamid IS NOT NULL AND status <> 'read'"
    )[0][0]
    parked = sql(f'SELECT count(*) FROM "{schema}".conversations_pendingstatus')[0][0]
    server_errors = sum(n for code, n in answers.items() if isinstance(code, int) and code >= 500)

    print()
    print(f"== chaos: {unique_count} messages from {args.contacts} contacts in {len(batches)} deliveries ==")
    print("faults (s after the first POST)  " + ", ".join(f"{what} @{at:.0f}" for what, at in faults))
    print(f"inbound stored / unique wamids  {stored} / {unique_count}  (distinct stored {distinct})")
    print(f"duplicate rows                  {duplicate_rows}")
    print(f"replies missing / duplicate     {missing} / {twice + extra}  (rows sent twice {twice})")
    print(f"sends left 'unknown — check'    {unknown}")
    print(f"status regressions              {regressions}  (sent rows not at 'read': {not_read}; parked {parked})")
    print(f"200 without a stored row        {ok_without_row}")
    refused = answers.get("refused", 0)
    print(f"5xx answers / refused           {server_errors} / {refused}  (all answers {dict(answers)})")
    print(f"settled after the last fault    {settle:.1f} s")
    print("  held since (s after the fault)  " + ", ".join(f"{what} {at:.0f}" for what, at in first_held.items()))
    if backlog_seen:
        at, rows = backlog_seen[0]
        seen = ", ".join(f"{n} {state} (attempts {attempts}, oldest {age:.0f} s)" for state, attempts, n, age in rows)
        print(f"  webhook backlog last seen @{at:.0f} s  {seen}")
    shares = ", ".join(f"{name} {seconds:.0f}" for name, seconds in sorted(cpu_used.items(), key=lambda kv: -kv[1]))
    print(f"CPU s while settling            {sum(cpu_used.values()):.0f} on 2 cores in {settle:.0f} s ({shares})")
    speed = f"{yardstick():.2f} s for 10 million Python additions (load {load_average()})"
    print(f"machine yardstick               {speed}")
    print(json.dumps({"settle_seconds": round(settle, 1), "answers": {str(k): v for k, v in answers.items()}}))


if __name__ == "__main__":
    main()
