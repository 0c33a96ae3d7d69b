"""Messages of one conversation are answered in the order the customer sent them, even when
the later one's task runs first (two webhook parts on two workers)."""

import pytest
from django_tenants.utils import schema_context

from conversations.engine.services import engine_handle_message
from conversations.models import EngineDecision, Message
from conversations.tests.engine_support import Flows, bot_reset, token
from conversations.tests.test_engine_queries import _inbound, _wa_id


@pytest.fixture
def flows(alpha, live_db):
    flows = Flows(alpha.tenant.schema_name)
    yield flows
    flows.cleanup()
    bot_reset(alpha.tenant.schema_name)


def test_a_later_message_handled_first_lets_the_earlier_one_be_answered_first(alpha, flows, graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    schema = alpha.tenant.schema_name
    word = token()
    flows.rule(f"first{word}", flows.text(f"Answer one {word}"))
    flows.rule(f"second{word}", flows.text(f"Answer two {word}"))
    wa_id = _wa_id()
    first = _inbound(schema, wa_id, f"first{word}")
    second = _inbound(schema, wa_id, f"second{word}")

    with schema_context(schema):
        engine_handle_message(message_id=second.pk)  # the later message's task runs first
        engine_handle_message(message_id=first.pk)  # the earlier one's task, late: nothing left to do
        decisions = {d.message_id: d for d in EngineDecision.objects.filter(message__in=[first, second])}
        replies = list(Message.objects.filter(conversation_id=first.conversation_id, direction="out").order_by("pk"))

    assert set(decisions) == {first.pk, second.pk}
    assert decisions[first.pk].finished_at <= decisions[second.pk].finished_at
    assert [r.body for r in replies] == [f"Answer one {word}", f"Answer two {word}"]
    sent = [r["payload"]["text"]["body"] for r in graph_sandbox.sent_messages if r["wa_id"] == wa_id]
    assert sent == [f"Answer one {word}", f"Answer two {word}"]
