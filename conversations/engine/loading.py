"""Reading what an engine decision needs: the message with its conversation, contact, flow
state, decision, whether a reply is stored and which earlier messages are still unanswered
(one query for one message or for a batch), and the ``Run`` that carries it through
``deciding``. Used by the one-message path (``services``) and the batch (``batch``).
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat, Now

from conversations.choices import Direction
from conversations.engine import hooks
from conversations.engine.bots import bot_for_phone_number
from conversations.engine.replying import Run
from conversations.models import Message

# Earlier messages that old are the owed-work sweep's business, not this message's.
ORDER_WINDOW = timedelta(minutes=10)


def _loaded() -> QuerySet:
    """Inbound messages with what a decision reads, joined in one query."""
    return _loaded_base().all()


@cache
def _loaded_base() -> QuerySet:
    # Built once per process (resolving the annotations cost about a twelfth of a batched
    # decision, py-spy, issue 9): the window is "now" on the database's clock, not Python's.
    # Never evaluated itself; ``_loaded`` hands out clones.
    reply_key = Concat(Value("reply:"), OuterRef("wamid"))
    # Inbound messages of the conversation before this one (Meta's time, then arrival) that
    # no run has touched: no decision row at all (a claim means someone holds the lock).
    earlier = Message.objects.filter(
        conversation_id=OuterRef("conversation_id"),
        direction=Direction.INBOUND,
        created_at__gte=Now() - ORDER_WINDOW,
        engine_decision__isnull=True,
    ).filter(Q(timestamp__lt=OuterRef("timestamp")) | Q(timestamp=OuterRef("timestamp"), pk__lt=OuterRef("pk")))
    return Message.objects.select_related(
        "conversation__contact__flow_state",
        "engine_decision",
        # What apps above conversations join to the contact (the lead, for template variables).
        *(f"conversation__contact__{name}" for name in hooks.contact_relations),
    ).annotate(
        replied=Exists(Message.objects.filter(idempotency_key=reply_key)),
        earlier_ids=ArraySubquery(earlier.order_by("timestamp", "pk").values("pk")[:50]),
    )


def load_message(message_id: int) -> Message:
    return _loaded().get(pk=message_id)


def load_messages(message_ids: list[int]) -> list[Message]:
    """The messages with everything a decision reads, in the order of ``message_ids``
    (one query; the batched decisions of ``engine.batch``)."""
    by_id = {message.pk: message for message in _loaded().filter(pk__in=message_ids)}
    return [by_id[message_id] for message_id in message_ids if message_id in by_id]


def flow_state_of(contact):
    try:
        return contact.flow_state
    except type(contact).flow_state.RelatedObjectDoesNotExist:
        return None


def run_for(message: Message, *, fast: bool) -> Run:
    conversation = message.conversation
    return Run(
        message=message,
        conversation=conversation,
        contact=conversation.contact,
        bot=bot_for_phone_number(conversation.phone_number_id),
        schema_name=connection.schema_name,
        fast=fast,
    )
