"""Sending the engine's answer: one message being handled (``Run``), its sends, and the
AI memory of what was said.

In the fast path (``Run.fast``: one transaction under the conversation lock, see
``services``) a reply is stored with ``outbound.reply_queue`` and delivered by the engine
itself after commit; otherwise it goes through ``outbound.message_send`` and the send queue.
Either way its idempotency key is ``reply:{wamid}`` (``:2``, ``:3`` for further messages of
the same answer), so a replayed inbound never answers twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from bizmitra import metrics
from bizmitra.errors import ValidationFailed
from conversations.ai.memory import message_text as memory_text
from conversations.engine import hooks
from conversations.engine.handoff import remember
from conversations.models import Bot, Contact, Conversation, Message
from conversations.services.outbound import DuplicateMessage, enqueue_send, message_send, reply_build, reply_queue
from conversations.services.outbound_delivery import messages_deliver
from templates.rendering import render_context, render_template
from templates.text import variable_slots

logger = logging.getLogger(__name__)


@dataclass
class Run:
    """One inbound message being handled: what it is about and what was sent so far.

    ``fast``: the decision runs in one transaction and its replies are delivered by
    ``deliver_replies`` after commit (see ``services``).

    ``deferred`` (with ``fast``): the decision is one of a batch (``engine.batch``): its
    replies, flow state and memory entries are collected here unsaved, and the batch stores
    those of every message with a few statements. A step that would write anything else
    raises ``deciding.Unbatchable`` first.
    """

    message: Message
    conversation: Conversation
    contact: Contact
    bot: Bot
    schema_name: str
    fast: bool = False
    sends: int = 0
    sent_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    user_remembered: bool = False
    deferred: bool = False
    deferred_replies: list[Message] = field(default_factory=list)
    # (template or None, state or None) for each flow-state advance, in order.
    deferred_states: list[tuple] = field(default_factory=list)
    # (role, content, message or message id, once) for the AI memory, in order.
    deferred_memory: list[tuple] = field(default_factory=list)

    @property
    def reply_key(self) -> str:
        base = reply_key_base(self.message)
        return base if self.sends <= 1 else f"{base}:{self.sends}"


def reply_key_base(message: Message) -> str:
    return f"reply:{message.wamid}" if message.wamid else f"reply:message-{message.pk}"


def send_template(run: Run, template, *, allow_opted_out: bool = False) -> bool:
    """Send ``template`` rendered for the contact; False when it could not be sent (the
    reason is in ``run.notes``)."""
    if template is None:
        return False
    rendered = render_template(template, template_context(run, template))
    sent = send(
        run, rendered["type"], rendered["content"], what=f"template {template.key}", allow_opted_out=allow_opted_out
    )
    return sent is not None


def template_context(run: Run, template) -> dict:
    # The lead is read only when the template has variables to fill (one query saved for
    # plain menus); the leads app provides it through a hook (it sits above conversations).
    lead = None
    if any(variable_slots(text) for text in (template.header_text, template.body, template.footer) if text):
        lead = hooks.lead_for_contact(run.contact)
    return render_context(contact=run.contact, lead=lead, business_name=_business_name())


def send(
    run: Run, type_: str, content, *, key: str | None = None, what: str = "", allow_opted_out: bool = False
) -> Message | None:
    """Queue one message of the answer; None when it was not queued (already sent for this
    key, or refused by validation: the reason goes into the decision)."""
    remember_user(run)
    if key is None:
        run.sends += 1
        key = run.reply_key
    try:
        if run.deferred:
            message = reply_build(
                conversation=run.conversation,
                type=type_,
                content=content,
                idempotency_key=key,
                allow_opted_out=allow_opted_out,
            )
            run.deferred_replies.append(message)
            run.deferred_memory.append(("assistant", memory_text(message) or "[message]", message, False))
            return message
        if run.fast:
            message = reply_queue(
                conversation=run.conversation,
                type=type_,
                content=content,
                idempotency_key=key,
                allow_opted_out=allow_opted_out,
            )
        else:
            message = message_send(
                to=run.contact.recipient,
                type=type_,
                content=content,
                idempotency_key=key,
                conversation=run.conversation,
                context_wamid="",
                allow_opted_out=allow_opted_out,
            )
    except DuplicateMessage:
        logger.info("message %s: %s was sent before (replay)", run.message.pk, key)
        return None
    except ValidationFailed as exc:
        logger.warning("message %s: %s not sent: %s %s", run.message.pk, what or type_, exc.message, exc.fields)
        run.notes.append(f"{what or type_} not sent: {exc.message}")
        return None
    run.sent_ids.append(message.pk)
    remember(
        schema_name=run.schema_name,
        contact_id=run.contact.pk,
        role="assistant",
        content=memory_text(message) or "[message]",
        message_id=message.pk,
        once=False,
    )
    return message


def remember_user(run: Run) -> None:
    # The AI assistant reads this memory: it should know what rules, flows and people answered.
    if run.user_remembered:
        return
    run.user_remembered = True
    content = memory_text(run.message)
    if content and run.deferred:
        run.deferred_memory.append(("user", content, run.message.pk, True))
    elif content:
        remember(
            schema_name=run.schema_name,
            contact_id=run.contact.pk,
            role="user",
            content=content,
            message_id=run.message.pk,
        )


def deliver_replies(message_ids: list[int]) -> None:
    """Send the fast path's replies now, without another queue hop (issue 9).

    Call after the decisions committed. The replies go out together
    (``outbound_delivery.messages_deliver``: concurrently across conversations, in order
    within one). A reply the limiter cannot take within ``ENGINE_INLINE_SEND_MAX_WAIT_SECONDS``,
    or one that needs a retry, goes to the send queue with the later ones of its answer; if
    the delivery itself fails, every reply still ``queued`` goes to the queue. Sends are
    claimed row by row, so a sweep or a duplicate task never sends twice.
    """
    if not message_ids:
        return
    try:
        outcomes = messages_deliver(message_ids=message_ids, max_wait=settings.ENGINE_INLINE_SEND_MAX_WAIT_SECONDS)
    except Exception:  # rows still queued: the send queue takes them from here
        logger.exception("inline send of messages %s failed; queueing them", message_ids)
        for message_id in message_ids:
            enqueue_send(message_id)
        return
    for message_id, outcome in zip(message_ids, outcomes, strict=True):
        metrics.SENDS.labels(outcome=outcome.result).inc()
        if outcome.retry_in is not None:
            enqueue_send(message_id, countdown=outcome.retry_in)


def _business_name() -> str:
    tenant = getattr(connection, "tenant", None)
    if tenant is not None and getattr(tenant, "schema_name", None) == connection.schema_name:
        return getattr(tenant, "name", "") or ""
    return ""
