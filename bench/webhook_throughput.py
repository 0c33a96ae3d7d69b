"""Webhook benchmark: ack throughput/latency and inbound-to-reply latency.

Run:  .venv/bin/python bench/webhook_throughput.py [--duration 10] [--connections 32]
      [--replies 200] [--blocking-threads 4]

What it does, all on loopback and bounded in time:
1. Creates a scratch database ``bizmitra_bench`` (dropped first), migrates it and onboards
   a bench tenant whose WhatsApp number points at a Graph API sandbox started here.
2. Starts the web server exactly as production does (granian, WSGI, 2 workers).
3. Phase "ack": drives ``POST /webhooks/whatsapp/`` from a separate process (wrk; installed
   from Debian's packages when missing) with signed, distinct webhook bodies for
   ``--duration`` seconds, and prints sustained requests/s, p50/p99 ack latency, and the
   number of 200 answers vs. rows stored in ``whatsapp_webhookdelivery``. No Celery
   worker runs during this phase, so the figures are the web tier's alone.
4. Phase "reply": starts a Celery worker, then the sandbox plays the customer: it posts
   ``--replies`` signed inbound texts ("hi", which the built-in greeting rule answers),
   one at a time, and the script measures the time from the webhook POST to the reply
   arriving at the sandbox's ``/messages`` endpoint (p50/p99).

Needs PostgreSQL and Redis reachable as for `make test` (scripts/services.py finds them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import log, percentile, recreate_database, services_env, start, stop, wait_http  # noqa: E402
from bizmitra.queues import queues_arg  # noqa: E402

BENCH_DB = "bizmitra_bench"
PHONE_NUMBER_ID = "900000000000001"
APP_SECRET = "bench-app-secret"
PREFIX = f"bizmitra-bench-{os.getpid()}"


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    log("installing wrk from Debian's packages")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is needed for the ack phase: apt-get install wrk")
    return path


def signed_bodies(path: Path, count: int) -> None:
    """Write ``count`` distinct signed text-message webhooks, one "<sig>\\t<body>" per line."""
    from conversations.whatsapp.signature import compute_signature

    with path.open("w") as fh:
        for i in range(count):
            wa_id = f"1555{i % 50000:07d}"
            body = json.dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [
                        {
                            "id": "102290129340398",
                            "changes": [
                                {
                                    "field": "messages",
                                    "value": {
                                        "messaging_product": "whatsapp",
                                        "metadata": {
                                            "display_phone_number": "15550000001",
                                            "phone_number_id": PHONE_NUMBER_ID,
                                        },
                                        "contacts": [{"profile": {"name": f"Bench {i}"}, "wa_id": wa_id}],
                                        "messages": [
                                            {
                                                "from": wa_id,
                                                "id": f"wamid.bench{uuid.uuid4().hex}",
                                                "timestamp": str(int(time.time())),
                                                "type": "text",
                                                "text": {"body": f"benchmark message {i}"},
                                            }
                                        ],
                                    },
                                }
                            ],
                        }
                    ],
                },
                separators=(",", ":"),
            ).encode()
            fh.write(f"{compute_signature(APP_SECRET, body)}\t{body.decode()}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load in the ack phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--bodies", type=int, default=60000, help="distinct signed bodies to cycle through")
    parser.add_argument("--replies", type=int, default=200, help="inbound messages timed to their reply")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--blocking-threads", type=int, default=4, help="granian threads per worker (as in the Procfile)"
    )
    args = parser.parse_args()

    found = services_env(BENCH_DB)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bizmitra.settings.base",
        DATABASE_URL=found["DATABASE_URL"],
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
    logdir = ROOT / "var" / "bench-logs"
    logdir.mkdir(parents=True, exist_ok=True)

    log(f"scratch database {BENCH_DB}")
    recreate_database(env["DATABASE_URL"], BENCH_DB)
    subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--shared", "-v", "0"], cwd=ROOT, env=env, check=True
    )

    import django

    django.setup()
    from django.db import connection

    from conversations.whatsapp.sandbox import GraphSandbox
    from tenants.services import public_tenant_ensure, tenant_onboard

    public_tenant_ensure(domain="localhost")
    tenant_onboard(
        name="Bench Co",
        schema_name="bench",
        domain="bench.localhost",
        phone_number_id=PHONE_NUMBER_ID,
        access_token="bench-token",
        owner_email="owner@bench.localhost",
        owner_password="bench-password",
        client_code="BENCH",
    )
    connection.close()

    web_url = f"http://127.0.0.1:{args.port}"
    sandbox = GraphSandbox(webhook_url=f"{web_url}/webhooks/whatsapp/", app_secret=APP_SECRET, auto_statuses=())
    sandbox.start()
    sandbox.register_number(PHONE_NUMBER_ID, "bench-token")
    env["WHATSAPP_GRAPH_URL"] = sandbox.base_url

    web = start(
        [
            str(ROOT / ".venv" / "bin" / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--workers",
            "2",
            "--blocking-threads",
            str(args.blocking_threads),
            "--log-level",
            "warning",
            "bizmitra.wsgi:application",
        ],
        env,
        "granian",
        logdir,
    )
    worker = None
    try:
        wait_http(f"{web_url}/healthz")
        wrk = ensure_wrk()
        with tempfile.TemporaryDirectory() as tmp:
            bodies = Path(tmp) / "bodies.tsv"
            log(f"signing {args.bodies} distinct webhook bodies")
            signed_bodies(bodies, args.bodies)
            threads = 2
            log(f"ack phase: wrk -t{threads} -c{args.connections} -d{args.duration}s (no worker running)")
            result = subprocess.run(
                [
                    wrk,
                    f"-t{threads}",
                    f"-c{args.connections}",
                    f"-d{args.duration}s",
                    "--latency",
                    "-s",
                    str(ROOT / "bench" / "webhook_signed.lua"),
                    f"{web_url}/webhooks/whatsapp/",
                    "--",
                    str(bodies),
                    str(threads),
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=args.duration + 60,
            )
        figures = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("WRKJSON "))[8:])
        with connection.cursor() as cursor:
            cursor.execute('SELECT count(*) FROM "public"."whatsapp_webhookdelivery"')
            stored = cursor.fetchone()[0]
        sent = figures["requests"]
        ok = sent - figures["errors_status"]
        seconds = figures["duration_us"] / 1e6
        print()
        print("== webhook ack (granian WSGI x2, signed POST, one INSERT+NOTIFY statement) ==")
        print(f"  requests sent        : {sent} in {seconds:.1f} s")
        print(f"  sustained            : {sent / seconds:,.0f} req/s")
        print(
            f"  ack latency p50/p99  : {figures['p50_us'] / 1000:.1f} ms / {figures['p99_us'] / 1000:.1f} ms "
            f"(max {figures['max_us'] / 1000:.1f} ms)"
        )
        socket_errors = sum(figures[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_timeout"))
        print(f"  answered 200         : {ok}   non-2xx: {figures['errors_status']}   socket errors: {socket_errors}")
        print(f"  rows stored          : {stored}  (stored - 200s = {stored - ok}: still in flight when wrk stopped)")

        # The deliveries of the ack phase are not what we time below: drop them and their queue.
        with connection.cursor() as cursor:
            cursor.execute('DELETE FROM "public"."whatsapp_webhookdelivery"')
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).delete(PREFIX)
        connection.close()

        log("reply phase: starting a Celery worker")
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
            "celery-worker",
            logdir,
        )
        from bizmitra.celery import app as celery_app

        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=0.5) and time.monotonic() < deadline:
            time.sleep(0.2)
        latencies = []
        missing = 0
        for i in range(args.replies):
            wa_id = f"1666{i:07d}"
            before = len(sandbox.sent_messages)
            t0 = time.monotonic()
            injected = sandbox.inject_text(PHONE_NUMBER_ID, wa_id, "hi", profile_name=f"Reply {i}")
            assert injected.status_code == 200, injected
            deadline = t0 + 10
            reply = None
            while time.monotonic() < deadline and reply is None:
                for sent_message in sandbox.sent_messages[before:]:
                    if sent_message["payload"].get("to", "").lstrip("+") == wa_id:
                        reply = sent_message
                        break
                else:
                    time.sleep(0.002)
            if reply is None:
                missing += 1
            else:
                latencies.append((reply["received_at"] - t0) * 1000)
        print()
        print("== inbound webhook -> reply at the Graph sandbox (rule path, real worker) ==")
        if latencies:
            print(f"  replies timed        : {len(latencies)} of {args.replies} (no reply within 10 s: {missing})")
            print(
                f"  latency p50/p99      : {statistics.median(latencies):.1f} ms / {percentile(latencies, 99):.1f} ms "
                f"(max {max(latencies):.1f} ms)"
            )
        else:
            print(f"  no replies arrived ({missing} messages sent); see var/bench-logs/celery-worker.log")
    finally:
        if worker is not None:
            stop(worker)
        stop(web)
        sandbox.stop()


if __name__ == "__main__":
    main()
