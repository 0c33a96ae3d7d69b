"""Opt-out binds at send time: a message queued before the customer said "stop" never goes
out after it (issue 9), while the engine's opt-out confirmation still does."""

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.choices import MessageStatus
from conversations.models import Contact, Message
from conversations.services.outbound_delivery import message_deliver
from conversations.tests.test_outbound import SCHEMA, queued_row, sends_of, unique_phone


@pytest.fixture
def graph(graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    return graph_sandbox


def test_a_message_queued_before_stop_is_not_sent_after_it(live_db, graph):
    message = queued_row(unique_phone())
    with schema_context(SCHEMA):
        Contact.objects.filter(conversation__pk=message.conversation_id).update(opted_out_at=timezone.now())
        outcome = message_deliver(message_id=message.pk)
        message.refresh_from_db()
    assert outcome.result == "opted_out"
    assert message.status == MessageStatus.FAILED and message.error_title == "Contact opted out"
    assert sends_of(graph, message.pk) == []


def test_the_opt_out_confirmation_still_goes(live_db, graph):
    message = queued_row(unique_phone())
    with schema_context(SCHEMA):
        Message.objects.filter(pk=message.pk).update(allow_opted_out=True)
        Contact.objects.filter(conversation__pk=message.conversation_id).update(opted_out_at=timezone.now())
        outcome = message_deliver(message_id=message.pk)
        message.refresh_from_db()
    assert outcome.result == "sent" and message.status == MessageStatus.SENT
    assert len(sends_of(graph, message.pk)) == 1
