"""Every stored message is answered exactly once, whatever happens to the broker (issue 9).

The product as the Procfile runs it (``bench/stack.py``: granian, both workers, beat) on a
scratch database with a Redis of its own. A backlog of inbound messages is posted; while it
is being worked, every worker and beat are killed with SIGKILL and Redis is killed and
started again empty — every queued, prefetched and unacknowledged task is gone, as after a
Redis restart without persistence. Only the database remembers what is owed: the sweeps
(webhook deliveries, engine decisions, queued sends) must find it all, and the claims must
keep anything from being answered twice.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from bench.stack import APP_SECRET, Stack, inbound_batch
from tests.support import wait_for

MESSAGES = 400
CONTACTS = 200
BATCH = 50
# Short horizons so the test settles in seconds; production defaults are in settings/base.py.
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


@pytest.fixture
def stack():
    from conversations.whatsapp.sandbox import GraphSandbox

    sandbox = GraphSandbox(app_secret=APP_SECRET).start()
    stack = Stack(
        f"faults_{uuid.uuid4().hex[:8]}", sandbox=sandbox, own_redis=True, messages_per_second=1000, env=FAST_SWEEPS
    )
    # Meta's status webhooks come back to the stack: they settle sends whose worker died.
    sandbox.webhook_url = f"http://127.0.0.1:{stack.web_port}/webhooks/whatsapp/"
    stack.start()
    yield stack
    stack.stop()
    sandbox.stop()


def test_a_worker_kill_and_a_wiped_broker_mid_backlog_lose_no_answer_and_double_none(stack):
    sandbox = stack.sandbox
    contacts = [f"9198{str(uuid.uuid4().int)[:8]}" for _ in range(CONTACTS)]
    items = [(contacts[j % CONTACTS], f"wamid.F{uuid.uuid4().hex}", "hi") for j in range(MESSAGES)]
    for start in range(0, MESSAGES, BATCH):
        assert stack.post_webhook(inbound_batch(stack.phone_number_id, items[start : start + BATCH])) == 200

    def replies() -> list[dict]:
        return [r for r in sandbox.sent_messages if r["phone_number_id"] == stack.phone_number_id]

    wait_for(lambda: len(replies()) >= 40, timeout=120, what="the backlog to be under way")
    for process in ("worker", "background", "beat"):
        stack.process_kill(process)
    stack.redis_kill()
    answered_before_faults = len(replies())
    stack.redis_start()
    for process in ("worker", "background", "beat"):
        stack.process_start(process)
    assert answered_before_faults < MESSAGES, "the faults must hit a backlog, not a finished run"

    owed = f"SELECT count(*) FROM \"{stack.schema}\".conversations_message m WHERE m.direction = 'in' AND NOT EXISTS ("
    owed += f'SELECT 1 FROM "{stack.schema}".conversations_enginedecision d WHERE d.message_id = m.id '
    owed += "AND d.finished_at IS NOT NULL)"
    unsent = f"SELECT count(*) FROM \"{stack.schema}\".conversations_message WHERE direction = 'out' "
    unsent += "AND status IN ('queued', 'sending')"
    stored = f"SELECT count(*) FROM \"{stack.schema}\".conversations_message WHERE direction = 'in'"

    def settled() -> bool:
        return (
            stack.sql(stored)[0][0] == MESSAGES
            and stack.sql(owed)[0][0] == 0
            and stack.sql(unsent)[0][0] == 0
            and len(replies()) >= MESSAGES
        )

    wait_for(settled, timeout=120, what="every message answered after the faults")

    sent = replies()
    per_row = Counter(r["payload"].get("biz_opaque_callback_data") for r in sent)
    per_contact = Counter(r["wa_id"] for r in sent)
    assert [row for row, n in per_row.items() if n > 1] == [], "a reply went out twice"
    assert set(per_contact.values()) == {MESSAGES // CONTACTS}, "each 'hi' gets exactly one answer"
    assert len(sent) == MESSAGES
    outbound = f"SELECT count(*) FROM \"{stack.schema}\".conversations_message WHERE direction = 'out'"
    assert stack.sql(outbound)[0][0] == MESSAGES
