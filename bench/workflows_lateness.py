"""Benchmark: how late do delayed workflow jobs start? (not a test; prints figures)

Schedules N delayed email jobs (default 10,000) due over a few minutes, lets a running
Celery worker execute them, and prints the lateness (first attempt's start - due time)
p50 / p99 / max and the throughput. Target: p99 < 1 s.

Run it against a worker that shares its database, Redis and queue, e.g.

    # terminal 1 (or `make run`, which also starts beat)
    DJANGO_SETTINGS_MODULE=bizmitra.settings.base .venv/bin/celery -A bizmitra worker -l warning --concurrency 2
    # terminal 2
    DJANGO_SETTINGS_MODULE=bizmitra.settings.base .venv/bin/python bench/workflows_lateness.py --jobs 10000 --spread 180

How it works, bounded in time (creation + ``--lead`` + ``--spread`` + ``--timeout``):
1. creates a throwaway tenant ``bench_wf_<hex>`` (dropped at the end unless ``--keep-tenant``;
   or use an existing one with ``--tenant SCHEMA`` / ``BENCH_TENANT_SCHEMA``) whose SMTP
   settings point at an SMTP sink this script runs on loopback;
2. fires N triggers through ``workflow_trigger_fire`` (the API's service), due far ahead;
3. re-times them evenly over ``[now + lead, now + lead + spread]`` (one UPDATE, nothing
   handed to Celery yet) and runs the dispatcher every ``--dispatch-every`` seconds, as
   beat would: jobs are handed over as they enter the 2-minute horizon, with eta=due time;
4. waits for every job to finish, then prints the figures.
"""

import argparse
import multiprocessing
import os
import secrets
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizmitra.settings.base")

import django  # noqa: E402

django.setup()

from aiosmtpd.controller import Controller  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Case, F, Value, When  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bizmitra.celery import app  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import public_tenant_ensure, tenant_onboard  # noqa: E402
from workflows.models import CommunicationWorkflow, TenantEmailSettings, WorkflowJob, WorkflowTrigger  # noqa: E402
from workflows.services import workflow_dispatch_all, workflow_trigger_fire  # noqa: E402


class CountingSink:
    """An SMTP handler that accepts everything and counts (in a shared integer)."""

    def __init__(self, counter):
        self.counter = counter

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 OK"


def run_sink(port: int, counter, ready) -> None:
    controller = Controller(CountingSink(counter), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    threading.Event().wait()


def start_sink(port: int):
    """The SMTP sink in its own process: this one's dispatcher passes must not stall the worker's sends."""
    counter = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=run_sink, args=(port, counter, ready), daemon=True)
    process.start()
    ready.wait(10)
    return process, counter


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def create_tenant() -> Tenant:
    public_tenant_ensure(domain="localhost")
    suffix = secrets.token_hex(4)
    result = tenant_onboard(
        name=f"Bench {suffix}",
        schema_name=f"bench_wf_{suffix}",
        domain=f"bench-{suffix}.localhost",
        phone_number_id=str(secrets.randbelow(10**14) + 10**14),
        access_token="bench-token",
        owner_email=f"owner@bench-{suffix}.localhost",
        owner_password="bench-password",
        client_code=f"BW{suffix[:6].upper()}",
    )
    return result.tenant


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--lead", type=float, default=20, help="Seconds from re-timing to the first due job.")
    parser.add_argument("--spread", type=float, default=180, help="Seconds over which due times are spread.")
    parser.add_argument("--timeout", type=float, default=120, help="Extra seconds to wait after the last due time.")
    parser.add_argument("--dispatch-every", type=float, default=30, help="0: rely on a running beat instead.")
    parser.add_argument("--tenant", default=os.environ.get("BENCH_TENANT_SCHEMA", ""))
    parser.add_argument("--keep-tenant", action="store_true")
    args = parser.parse_args()

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    consumers = app.control.inspect(timeout=2).active_queues() or {}
    if not any(q["name"] == queue for queues in consumers.values() for q in queues):
        print(f"No Celery worker consumes the queue {queue!r}; start one first (see the docstring).", file=sys.stderr)
        return 2

    port = free_port()
    sink_process, sink_count = start_sink(port)
    tenant = Tenant.objects.get(schema_name=args.tenant) if args.tenant else create_tenant()
    created_tenant = not args.tenant
    trigger = f"bench_{secrets.token_hex(4)}"
    print(f"tenant {tenant.schema_name}, trigger {trigger}, {args.jobs} jobs, SMTP sink on :{port}", flush=True)
    try:
        with schema_context(tenant.schema_name):
            TenantEmailSettings.objects.update_or_create(
                singleton=1,
                defaults={
                    "host": "127.0.0.1",
                    "port": port,
                    "use_tls": False,
                    "use_ssl": False,
                    "from_email": "bench@bench.localhost",
                    "is_active": True,
                },
            )
            CommunicationWorkflow.objects.create(
                name="bench", trigger=trigger, channel="email", email_subject="Bench {{1}}", body="Job {{1}}"
            )
            far = timezone.now() + timedelta(days=1)
            started = time.monotonic()
            for i in range(args.jobs):
                workflow_trigger_fire(
                    trigger=trigger,
                    phone=f"+9198{i:08d}",
                    email=f"bench{i}@example.com",
                    variables=[str(i)],
                    base_time=far,
                )
            creation = time.monotonic() - started
            print(f"created {args.jobs} jobs in {creation:.1f} s ({args.jobs / creation:.0f}/s)", flush=True)

            # Re-time: job k (in creation order) is due at t0 + k * step.
            t0 = timezone.now() + timedelta(seconds=args.lead)
            step_us = int(args.spread * 1_000_000 / max(args.jobs - 1, 1))
            ids = list(WorkflowJob.objects.filter(trigger=trigger).order_by("created_at").values_list("pk", flat=True))
            whens = [When(pk=pk, then=Value(t0 + timedelta(microseconds=k * step_us))) for k, pk in enumerate(ids)]
            for chunk in range(0, len(whens), 1000):
                part = whens[chunk : chunk + 1000]
                WorkflowJob.objects.filter(pk__in=ids[chunk : chunk + 1000]).update(
                    due_at=Case(*part), enqueued_at=None
                )
            WorkflowJob.objects.filter(trigger=trigger).update(next_run_at=F("due_at"))
            last_due = t0 + timedelta(seconds=args.spread)
            print(f"due from {t0:%H:%M:%S} to {last_due:%H:%M:%S}", flush=True)

        deadline = time.monotonic() + args.lead + args.spread + args.timeout
        next_dispatch = 0.0
        while time.monotonic() < deadline:
            if args.dispatch_every and time.monotonic() >= next_dispatch:
                pass_started = time.monotonic()
                stats = workflow_dispatch_all()
                print(
                    f"{timezone.now():%H:%M:%S} dispatcher handed over {stats.handed_over} "
                    f"in {time.monotonic() - pass_started:.1f} s",
                    flush=True,
                )
                next_dispatch = time.monotonic() + args.dispatch_every
            with schema_context(tenant.schema_name):
                open_jobs = WorkflowJob.objects.filter(trigger=trigger, status__in=["pending", "running"]).count()
            if not open_jobs:
                break
            time.sleep(1)

        with schema_context(tenant.schema_name):
            rows = list(
                WorkflowJob.objects.filter(trigger=trigger).values_list("status", "due_at", "started_at", "finished_at")
            )
        done = [r for r in rows if r[0] == "completed"]
        unfinished = sum(1 for r in rows if r[0] in ("pending", "running"))
        failed = sum(1 for r in rows if r[0] == "failed")
        lateness = [(started - due).total_seconds() for _, due, started, _ in done]
        print()
        print(f"jobs: {len(rows)}  completed: {len(done)}  failed: {failed}  unfinished at timeout: {unfinished}")
        print(f"emails received by the sink: {sink_count.value}")
        if lateness:
            first = min(r[2] for r in done)
            last = max(r[3] for r in done)
            print(
                "lateness (first attempt start - due): "
                f"p50 {statistics.median(lateness) * 1000:.1f} ms  "
                f"p99 {percentile(lateness, 0.99) * 1000:.1f} ms  "
                f"max {max(lateness) * 1000:.1f} ms  "
                f"min {min(lateness) * 1000:.1f} ms"
            )
            print(
                f"late by > 100 ms: {sum(x > 0.1 for x in lateness)}, > 1 s: {sum(x > 1 for x in lateness)}; "
                "worst due at "
                + ", ".join(f"{due:%H:%M:%S}" for _, due, started, _ in sorted(done, key=lambda r: r[1] - r[2])[:5])
            )
            span = (last - first).total_seconds()
            print(
                f"throughput: {len(done) / span:.1f} jobs/s over {span:.1f} s "
                f"(due rate {args.jobs / args.spread:.1f}/s)"
            )
        return 0 if not unfinished and not failed else 1
    finally:
        sink_process.terminate()
        connection.set_schema_to_public()
        if created_tenant and not args.keep_tenant:
            tenant.delete(force_drop=True)
        elif args.tenant:
            with schema_context(tenant.schema_name):
                WorkflowJob.objects.filter(trigger=trigger).delete()
                WorkflowTrigger.objects.filter(trigger=trigger).delete()
                CommunicationWorkflow.objects.filter(trigger=trigger).delete()


if __name__ == "__main__":
    sys.exit(main())
