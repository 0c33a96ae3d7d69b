"""Benchmark: what the AI assistant adds on top of the model's own latency (not a test; prints figures)

Runs ``assistant_reply`` N times (default 200) against a local OpenAI-compatible server that
answers after ``--server-delay`` seconds, and prints p50 / p95 / max of

- the whole ``assistant_reply`` call (what the engine waits for),
- the time spent waiting on the endpoint (``AICallLog.latency_ms``),
- our own overhead: the difference (budget checks, memory, prompt, tool validation, logging).

Two scenarios: a plain text answer (one round) and a rejected tool call followed by text
(two rounds). Needs a database with at least one tenant, and Redis, e.g.

    DJANGO_SETTINGS_MODULE=bizmitra.settings.base .venv/bin/python bench/ai_latency.py --tenant demo

Each call uses a new contact (the per-contact hourly cap would stop one contact after 20);
the contacts, their conversations, messages and call logs, their Redis keys and the tokens
counted against the tenant's daily budget are removed at the end.
"""

import argparse
import logging
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizmitra.settings.base")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from conversations.ai import budgets  # noqa: E402
from conversations.ai.memory import memory_clear  # noqa: E402
from conversations.ai.services import assistant_reply  # noqa: E402
from conversations.ai.store import redis_client  # noqa: E402
from conversations.choices import Direction, MessageStatus, MessageType  # noqa: E402
from conversations.models import (  # noqa: E402
    AICallLog,  # noqa: E402
    Contact,
    Conversation,
    Message,
)
from conversations.tests.ai_server import FakeAIServer, tool_call  # noqa: E402
from tenants.models import Tenant  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def line(label: str, values: list[float]) -> str:
    return (
        f"  {label:<22} p50 {percentile(values, 0.5):8.2f} ms   p95 {percentile(values, 0.95):8.2f} ms"
        f"   max {max(values):8.2f} ms   mean {statistics.fmean(values):8.2f} ms"
    )


def run(schema: str, *, calls: int, delay: float, rounds: int, server: FakeAIServer) -> None:
    whole, waited = [], []
    contacts = []
    tokens = 0
    try:
        with schema_context(schema):
            for i in range(calls):
                if rounds == 2:
                    server.reply_tools(tool_call("no_such_tool", {}), delay=delay)
                server.reply("We are open from 9 to 6.", delay=delay)
                contact = Contact.objects.create(wa_id=f"bench{uuid.uuid4().int % 10**12}", profile_name="Bench")
                contacts.append(contact.pk)
                conversation = Conversation.objects.create(contact=contact, phone_number_id="bench")
                inbound = Message.objects.create(
                    conversation=conversation,
                    direction=Direction.INBOUND,
                    type=MessageType.TEXT,
                    body=f"When are you open? ({i})",
                    wamid=f"wamid.bench.{uuid.uuid4().hex}",
                    status=MessageStatus.RECEIVED,
                    timestamp=timezone.now(),
                )
                started = time.perf_counter()
                reply = assistant_reply(conversation=conversation, inbound_message=inbound)
                whole.append((time.perf_counter() - started) * 1000)
                log = AICallLog.objects.get(pk=reply.log_id)
                waited.append(float(log.latency_ms))
                tokens += log.total_tokens
                if reply.kind == "fallback":
                    print(f"  call {i}: fallback ({reply.reason}); check the tenant's AI settings", file=sys.stderr)
    finally:
        with schema_context(schema):
            AICallLog.objects.filter(contact_id__in=contacts).delete()
            Contact.objects.filter(pk__in=contacts).delete()
            for contact_id in contacts:
                memory_clear(schema_name=schema, contact_id=contact_id)
                redis_client().delete(budgets.contact_calls_key(schema_name=schema, contact_id=contact_id))
            if tokens:
                redis_client().decrby(budgets.tokens_key(schema_name=schema), tokens)
    overhead = [w - h for w, h in zip(whole, waited, strict=True)]
    print(f"{rounds} round(s), {calls} calls, server delay {delay * 1000:.0f} ms")
    print(line("assistant_reply", whole))
    print(line("waiting on endpoint", waited))
    print(line("our overhead", overhead))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenant", default=os.environ.get("BENCH_TENANT_SCHEMA"), help="schema name")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--server-delay", type=float, default=0.0, help="seconds the fake model takes")
    args = parser.parse_args()
    schema = args.tenant or Tenant.objects.exclude(schema_name="public").values_list("schema_name", flat=True).first()
    if not schema:
        sys.exit("no tenant: run `make run` once (it creates a demo tenant) or pass --tenant")
    # The rejected tool calls of the second scenario would log a warning each.
    logging.getLogger("conversations.ai").setLevel(logging.ERROR)
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server = FakeAIServer().start()
    settings.OPENAI_BASE_URL = server.base_url
    try:
        for rounds in (1, 2):
            run(schema, calls=args.calls, delay=args.server_delay, rounds=rounds, server=server)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
