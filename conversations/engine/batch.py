"""Deciding many inbound messages in one transaction (issue 9: a burst is answered at the
rate PostgreSQL takes statements, not at one transaction per message).

``decide_batch(message_ids)`` takes the first message of each conversation of a webhook
part, locks those conversations (transaction-level advisory locks, tried, never waited
for), reads every message with what it needs in one query, decides each with the same
``deciding.decide`` as the one-message path but with its writes collected
(``Run.deferred``), and stores the replies, the flow states and the finished decisions of
all of them with one statement each. The result is the same rows the one-message fast path
would have written; only the number of round trips differs (about 10 statements for 20
messages instead of 8 per message, pinned by ``conversations/tests/test_engine_queries.py``).

Every message the batch does not finish is left to the one-message path
(``services.engine_handle_message``), which decides it afresh, so nothing here has to be
complete: a conversation whose lock is held elsewhere, a second message of the same
conversation (it must see the first one's flow state), a message with earlier unanswered
ones, a claim or a stored reply, and any decision that needs more than replies and flow
state (AI, away message, opt-out, handoff, lead capture: ``deciding.Unbatchable`` /
``SlowPathNeeded``). A failure of the batch's statements rolls everything back and leaves
all of them to that path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from bizmitra import metrics
from bizmitra.config_cache import config_version_pinned
from bizmitra.db import insert_many, insert_on_conflict
from conversations.choices import Direction
from conversations.engine.claims import lock_key
from conversations.engine.deciding import SlowPathNeeded, decide
from conversations.engine.handoff import remember_many
from conversations.engine.loading import flow_state_of, load_messages, run_for
from conversations.models import ConversationState, EngineDecision, Message
from conversations.services.outbound import replies_store

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What a batch did: the messages it finished (``decided``: newly; ``done``: found
    finished already), the replies to deliver in order, and the messages it left."""

    decided: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    reply_ids: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    again: list[int] = field(default_factory=list)
    """The messages of ``left`` (in its order) that another batch may take: the later ones of
    a conversation whose first message this batch finished, and a message that waits only
    for the earlier ones of ``earlier``."""
    earlier: list[int] = field(default_factory=list)
    """Unanswered earlier messages of the batch's conversations (not in the batch): to decide
    before ``again``, each conversation's in their order."""


def decide_batch(message_ids: list[int]) -> BatchResult:
    """Decide what can be decided of ``message_ids`` together (see the module docstring).
    Tenant schema, outside a transaction; the replies are stored ``queued``, not delivered."""
    result = BatchResult()
    rows = Message.objects.filter(pk__in=message_ids, direction=Direction.INBOUND).values_list(
        "pk", "conversation_id", "engine_decision__finished_at"
    )
    # Decided already (a duplicate task: the owed-work sweep's, a redelivered one): done here,
    # without the full read of ``load_messages`` — behind a backlog most tasks are such.
    conversation_of = {}
    for message_id, conversation_id, finished_at in rows:
        if finished_at is None:
            conversation_of[message_id] = conversation_id
        else:
            result.done.append(message_id)
    first_of_conversation: dict[int, int] = {}
    # Conversations whose left messages may go to another batch: those whose first message is
    # finished here, or waits only for earlier ones (``earlier``).
    unblocked: set[int] = set()
    for message_id in message_ids:
        conversation_id = conversation_of.get(message_id)
        if conversation_id is None:
            continue  # gone or not inbound: the one-message path says so too
        if conversation_id in first_of_conversation:
            result.left.append(message_id)
        else:
            first_of_conversation[conversation_id] = message_id
    candidates = list(first_of_conversation.values())
    if len(candidates) < 2:
        result.left = [m for m in message_ids if m in conversation_of]
        return result

    started = time.perf_counter()
    try:
        with transaction.atomic(), config_version_pinned():
            locked = _lock_conversations(list(first_of_conversation))
            runs = []
            for message in load_messages([m for c, m in first_of_conversation.items() if c in locked]):
                existing = getattr(message, "engine_decision", None)
                if existing is not None and existing.finished_at is not None:
                    result.done.append(message.pk)
                    unblocked.add(message.conversation_id)
                    continue
                if existing is None and message.earlier_ids and not message.replied:
                    # Its earlier ones are owed (their tasks are behind, or lost): they go first,
                    # in the next batch, instead of one by one (issue 13 §1).
                    result.earlier.extend(message.earlier_ids)
                    result.left.append(message.pk)
                    unblocked.add(message.conversation_id)
                    continue
                if existing is not None or message.earlier_ids or message.replied:
                    result.left.append(message.pk)
                    continue
                run = run_for(message, fast=True)
                run.deferred = True
                try:
                    outcome = decide(run, state=flow_state_of(run.contact))
                except SlowPathNeeded as why:
                    logger.debug("message %s leaves the batch: %s", message.pk, why)
                    result.left.append(message.pk)
                    continue
                runs.append((run, outcome))
            result.left.extend(m for c, m in first_of_conversation.items() if c not in locked)
            _store(runs, started)
    except Exception:
        logger.exception("batched decision of %d messages failed; deciding them one by one", len(candidates))
        return BatchResult(done=result.done, left=[m for m in message_ids if m in conversation_of])
    for run, _outcome in runs:
        result.decided.append(run.message.pk)
        result.reply_ids.extend(run.sent_ids)
        unblocked.add(run.message.conversation_id)
    remember_many(
        schema_name=connection.schema_name,
        entries=[(run.contact.pk, entry) for run, _ in runs for entry in run.deferred_memory],
    )
    order = {message_id: position for position, message_id in enumerate(message_ids)}
    result.left.sort(key=lambda message_id: order[message_id])
    result.again = [m for m in result.left if conversation_of[m] in unblocked]
    return result


def _lock_conversations(conversation_ids: list[int]) -> set[int]:
    """Try each conversation's engine lock until the transaction ends (one statement);
    returns those taken. Tried, not waited for: a busy one is left to the one-message path,
    which waits for it, and trying cannot deadlock whatever the order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, pg_try_advisory_xact_lock(hashtextextended(key, 0))"
            " FROM unnest(%b::bigint[], %b::text[]) AS t(id, key)",
            [conversation_ids, [lock_key(c) for c in conversation_ids]],
        )
        return {conversation_id for conversation_id, taken in cursor.fetchall() if taken}


def _store(runs: list, started: float) -> None:
    """The writes of every decided message: replies, flow states, decisions."""
    replies_store([reply for run, _ in runs for reply in run.deferred_replies])
    for run, _ in runs:
        run.sent_ids = [reply.pk for reply in run.deferred_replies]
    _states_store(runs)
    latency_ms = int((time.perf_counter() - started) * 1000)
    now = timezone.now()
    decisions = []
    for run, outcome in runs:
        decision = EngineDecision(
            message=run.message, conversation_id=run.message.conversation_id, claimed_at=now, finished_at=now
        )
        fill_decision(decision, run, outcome, latency_ms=latency_ms)
        decisions.append(decision)
    insert_many(EngineDecision, decisions)


def _states_store(runs: list) -> None:
    # One row per contact with its last template and state; rows that set the same fields
    # go in one INSERT … ON CONFLICT (contact) DO UPDATE.
    now = timezone.now()
    groups: dict[tuple[str, ...], list[ConversationState]] = {}
    for run, _ in runs:
        if not run.deferred_states:
            continue
        row = ConversationState(contact_id=run.contact.pk, updated_at=now)
        fields = ["updated_at"]
        for template, state in run.deferred_states:
            if template is not None:
                row.last_template_id = template.pk
                if "last_template" not in fields:
                    fields.append("last_template")
            if state is not None:
                row.state = state
                if "state" not in fields:
                    fields.append("state")
        groups.setdefault(tuple(fields), []).append(row)
    for fields, rows in groups.items():
        rows.sort(key=lambda row: row.contact_id)  # row locks in one order
        insert_on_conflict(ConversationState, rows, conflict=["contact"], update={name: "{new}" for name in fields})


def fill_decision(decision: EngineDecision, run, outcome, *, latency_ms: int) -> None:
    """Copy what was decided (``outcome``) and done (``run``) onto the decision row."""
    metrics.engine_decided(path=outcome.path, fast=run.fast, arrived_at=run.message.created_at)
    decision.bot = run.bot
    decision.path = outcome.path
    decision.rule = outcome.rule
    decision.rule_name = getattr(outcome.rule, "name", "")[:100]
    decision.template_key = outcome.template_key
    decision.reason = "; ".join(filter(None, [outcome.reason, *run.notes]))[:500]
    decision.ai_call_id = outcome.ai_call_id
    decision.reply_message_ids = run.sent_ids
    decision.away_window_start = outcome.away_window_start
    decision.latency_ms = latency_ms
    decision.finished_at = decision.finished_at or timezone.now()
