"""The conversation engine: decide and send the bot's answer to inbound messages.

``engine_handle_messages(*, message_ids)`` runs in the tenant's schema (from
``engine_handle_messages_task``, started by the ``messages.received`` event of each stored
webhook part, and by the owed-work sweep) and answers each message through
``engine_handle_inbound``, whose steps are, first match wins (``deciding.decide``):

1. a reaction or system notice: nothing (``ignored``);
2. an opted-out contact: only the opt-in intent ("start") gets through — it clears
   ``Contact.opted_out_at`` and sends the opt-in confirmation; anything else: silence;
3. the opt-out intent ("stop"): mark the contact opted out, send only the confirmation.
   Opt-out and opt-in are honoured whatever the bot's switches, hours or a takeover;
4. a conversation a person has taken over: silence, unless it has been idle longer than the
   bot's ``auto_return_after_minutes`` (then it goes back to the bot and on);
5. the bot is disabled or its auto-response is off: silence (``bot_off``);
6. outside the bot's working hours: the away message, once per conversation per closed
   window (the idempotency key names the window), then silence until it opens;
7. rules and flows (``templates.services.flow_match``): send a template, set a state, hand
   over, or ask the AI. No AI call is made when a rule matched;
8. nothing matched (or a rule said ``ai``): the AI assistant when the bot and the tenant have AI
   on, else — and whenever the agent cannot answer — the fallback template, or
   ``DEFAULT_FALLBACK_TEXT`` when the tenant has none: the customer always gets an answer.

Two ways through, one result:

- **Fast path** (rules, flows, built-in intents, fallbacks — most messages): under the
  conversation's lock, one transaction reads the message with its conversation, contact,
  flow state and decision (one query), decides from the per-process snapshots of bots and
  flows (no query), stores the replies, the new flow state and the finished decision, and
  commits; then the engine sends the replies itself (``replying.deliver_replies``) when the
  number's limiter has a slot, else through the send queue. About 7 queries per decision.
  A crash anywhere before the commit leaves nothing behind: the message is still owed.
- **Slow path** (the AI assistant, away messages, or a message whose reply key exists already):
  the decision row is committed first as the claim (an AI call may take seconds and must
  not hold a transaction), then the answer goes through ``message_send`` and the queue.

Exactly once: a message's decision is unique (``EngineDecision.message``), its replies'
idempotency keys are ``reply:{wamid}`` (``:2``…), and both paths take the conversation
lock, so messages of one conversation are answered one at a time, in order. Work the
broker lost is found in the database by ``engine_owed_sweep`` (inbound messages without a
finished decision) and run again through the same claims.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from bizmitra.periodic import periodic_task_ensure
from bizmitra.queues import queue_busy
from conversations.choices import Direction
from conversations.engine.batch import decide_batch, fill_decision
from conversations.engine.claims import (
    conversation_lock_for_transaction,
    conversation_lock_keep,
    conversation_unlock,
    decision_claim,
    messages_owed,
)
from conversations.engine.deciding import DEFAULT_FALLBACK_TEXT, Outcome, SlowPathNeeded, decide
from conversations.engine.loading import flow_state_of, load_message, run_for
from conversations.engine.replying import Run, deliver_replies
from conversations.models import EngineDecision, Message

__all__ = [
    "DEFAULT_FALLBACK_TEXT",
    "engine_decide",
    "engine_handle_inbound",
    "engine_handle_message",
    "engine_handle_messages",
    "engine_owed_sweep",
]

logger = logging.getLogger(__name__)

Path = EngineDecision.Path


def engine_handle_messages(*, message_ids: list[int]) -> int:
    """Answer each inbound message of ``message_ids``, in order; returns how many were decided
    or found decided. Tenant schema, outside a transaction.

    The first message of each conversation is decided together with the others in one
    transaction where it can be (``batch.decide_batch``). The next batch takes the second
    message of each conversation, and earlier messages still owed an answer go before the
    ones that wait for them (up to ``BATCH_ROUNDS`` batches): behind a backlog — a worker or
    Redis lost, the owed-work sweep handing messages over out of order — most messages have an
    earlier one unanswered, and one by one they cost a transaction each (issue 13 §1: the chaos
    bench answered 20 a second that way). Whatever no batch takes — anything needing the AI,
    an away message or more writes — goes through ``engine_handle_message`` afterwards, each
    conversation's in order. The count includes the earlier messages decided here.
    """
    todo, alone, decided = message_ids, [], 0
    for _ in range(BATCH_ROUNDS):
        batch = decide_batch(todo)
        if batch.reply_ids:
            deliver_replies(batch.reply_ids)
        decided += len(batch.decided) + len(batch.done)
        again = set(batch.again)
        alone += [message_id for message_id in batch.left if message_id not in again]
        todo = list(dict.fromkeys([*batch.earlier, *batch.again]))
        if not todo:
            break
    else:
        alone += todo
    for message_id in alone:
        decided += engine_handle_message(message_id=message_id) is not None
    return decided


# Batches one task's messages may take: a contact writes a few messages in a row, so a handful
# of rounds takes them all; past that the rest go one by one.
BATCH_ROUNDS = 6


def engine_handle_message(*, message_id: int) -> EngineDecision | None:
    """Handle the inbound message ``message_id`` (gone or not inbound: None). Tenant schema."""
    message = Message.objects.filter(pk=message_id, direction=Direction.INBOUND).only("pk", "conversation_id").first()
    return engine_handle_inbound(message=message) if message is not None else None


def engine_handle_inbound(*, message: Message) -> EngineDecision:
    """Decide and send the answer to one inbound message; returns its ``EngineDecision``.

    Call inside the tenant's schema, outside a transaction (the AI call may take seconds).
    Re-runnable: a message already handled (or being handled) is not handled again; the
    row returned then is the earlier decision. Raises only for bugs and database trouble
    (nothing of a fast decision is kept; a slow decision's claim is released), so the
    task's retry — or the owed-work sweep — starts afresh; replies already stored keep
    their idempotency keys and are not repeated.
    """
    for _ in range(ORDER_ROUNDS):
        try:
            decision, reply_ids = engine_decide(message=message)
            break
        except EarlierMessagesFirst as earlier:
            # A message of the same conversation that came before this one has not been
            # handled (its task is on another worker, or behind): answer it first.
            for earlier_id in earlier.message_ids:
                engine_handle_message(message_id=earlier_id)
    else:
        decision, reply_ids = engine_decide(message=message, in_order=False)
    if reply_ids:
        deliver_replies(reply_ids)
    return decision


class EarlierMessagesFirst(Exception):
    """The conversation has earlier inbound messages with no decision yet (``message_ids``)."""

    def __init__(self, message_ids: list[int]) -> None:
        super().__init__(f"earlier messages first: {message_ids}")
        self.message_ids = message_ids


# How many times a message lets earlier ones of its conversation go first before it is
# answered anyway (each round answers every earlier one it found).
ORDER_ROUNDS = 3


def engine_decide(*, message: Message, in_order: bool = True) -> tuple[EngineDecision, list[int]]:
    """The decision half of ``engine_handle_inbound``: the decision, and the ids of the fast
    path's replies, stored ``queued`` and not delivered yet (``replying.deliver_replies``
    sends them; the slow path's replies are in the send queue already and not listed).

    ``in_order``: raise ``EarlierMessagesFirst`` (nothing written) when the conversation has
    earlier inbound messages that no run has started on yet.
    """
    started = time.perf_counter()
    conversation_id = message.conversation_id
    kept = False
    try:
        with transaction.atomic():
            conversation_lock_for_transaction(conversation_id)
            try:
                return _decide_fast(message.pk, started, in_order=in_order)
            except SlowPathNeeded:
                # Keep the conversation locked past the rollback, for the slow path.
                kept = conversation_lock_keep(conversation_id)
                raise
    except SlowPathNeeded as why:
        logger.debug("message %s takes the slow path: %s", message.pk, why)
        try:
            return _decide_slow(message.pk, started), []
        finally:
            if kept:
                conversation_unlock(conversation_id)


def _decide_fast(message_id: int, started: float, *, in_order: bool) -> tuple[EngineDecision, list[int]]:
    """The whole decision in the caller's transaction, which holds the conversation lock."""
    message = load_message(message_id)
    existing = getattr(message, "engine_decision", None)
    if existing is not None:
        if existing.finished_at is not None:
            return existing, []
        raise SlowPathNeeded("a claim exists")  # a slow run's claim: it decides whether to take over
    if in_order and message.earlier_ids:
        raise EarlierMessagesFirst(message.earlier_ids)
    if message.replied:
        raise SlowPathNeeded("a reply is stored already")
    run = run_for(message, fast=True)
    outcome = decide(run, state=flow_state_of(run.contact))
    decision = EngineDecision(message=message, conversation_id=message.conversation_id, claimed_at=timezone.now())
    _finish(decision, run, outcome, started, insert=True)
    return decision, run.sent_ids


def _decide_slow(message_id: int, started: float) -> EngineDecision:
    message = Message.objects.get(pk=message_id)
    decision = decision_claim(message)
    if decision is None:
        return EngineDecision.objects.get(message=message)
    try:
        message = load_message(message_id)
        run = run_for(message, fast=False)
        outcome = decide(run, state=flow_state_of(run.contact))
    except Exception:
        EngineDecision.objects.filter(pk=decision.pk, finished_at__isnull=True).delete()
        raise
    _finish(decision, run, outcome, started, insert=False)
    return decision


def _finish(decision: EngineDecision, run: Run, outcome: Outcome, started: float, *, insert: bool) -> None:
    decision.finished_at = None
    fill_decision(decision, run, outcome, latency_ms=int((time.perf_counter() - started) * 1000))
    if insert:
        decision.save(force_insert=True)
        return
    decision.save(
        update_fields=[
            "bot",
            "path",
            "rule",
            "rule_name",
            "template_key",
            "reason",
            "ai_call",
            "reply_message_ids",
            "away_window_start",
            "latency_ms",
            "finished_at",
        ]
    )


def engine_owed_sweep() -> int:
    """Enqueue every inbound message still owed a decision (tenant schema); returns how many.

    The broker may lose tasks (a Redis restart without persistence, a worker killed with
    its prefetched tasks); the database does not. Messages are handed over in batches per
    conversation order, through the same task as fresh ones, so a message whose first task
    is merely late is still answered once (the claims see to it).
    """
    from conversations.engine.tasks import engine_handle_messages_task  # tasks import this module

    owed = messages_owed(older_than=_seconds(settings.ENGINE_OWED_AFTER_SECONDS))
    if not owed:
        return 0
    # Behind a backlog, owed messages are mostly merely waiting: re-running them then put
    # thousands of ids more behind it (the chaos bench: ~92,000 in 3 minutes, a third of the
    # background worker in Redis round trips). While the engine's queue still holds work,
    # what is owed waits for it to run down; tasks the broker lost are found then.
    if queue_busy("engine"):
        return 0
    # A message handed over by an earlier sweep is given that long before the next one (its
    # task may be running). The marks live in Redis, so a Redis restart — the very fault that
    # loses the tasks — forgets them too. One read and one write for all of them.
    hold = max(settings.ENGINE_OWED_AFTER_SECONDS, settings.ENGINE_SWEEP_EVERY_SECONDS * 2)
    keys = {f"engine-owed:{message_id}": message_id for message_id, _ in owed}
    marked = cache.get_many(list(keys))
    fresh = {key: message_id for key, message_id in keys.items() if key not in marked}
    if not fresh:
        return 0
    cache.set_many(dict.fromkeys(fresh, 1), timeout=hold)
    ids = list(fresh.values())
    logger.warning("%s: %d inbound message(s) owed an answer; running them again", connection.schema_name, len(ids))
    headers = {"_schema_name": connection.schema_name}
    for start in range(0, len(ids), 100):
        engine_handle_messages_task.apply_async(kwargs={"message_ids": ids[start : start + 100]}, headers=headers)
    return len(ids)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _periodic_tasks() -> dict[str, tuple[str, int]]:
    return {
        "engine: apply bot schedules": ("conversations.engine.tasks.bot_schedules_apply_task", 30),
        "engine: handoff auto-return": ("conversations.engine.tasks.handoff_auto_return_task", 60),
        "engine: answer messages still owed": (
            "conversations.engine.tasks.engine_owed_sweep_task",
            settings.ENGINE_SWEEP_EVERY_SECONDS,
        ),
    }


PERIODIC_TASKS = _periodic_tasks()


def engine_periodic_tasks_ensure() -> None:
    """Register the engine's beat jobs with django-celery-beat (idempotent; run after every
    public migration, registered by ``ConversationsConfig.ready``)."""
    for name, (task, seconds) in _periodic_tasks().items():
        periodic_task_ensure(
            name=name,
            task=task,
            every_seconds=seconds,
            description="Conversation engine (conversations/engine/); fans out to every active tenant.",
        )
