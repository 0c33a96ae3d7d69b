"""The engine's AI path end to end: rules first, then the AI assistant (the session's local
OpenAI-compatible server), and the fallback whenever the agent cannot answer."""

import json

import pytest
from django_tenants.utils import schema_context

from bizmitra.config_cache import config_changed
from conversations.ai.memory import memory_get
from conversations.ai.selectors import ai_settings_get
from conversations.ai.services import ai_settings_update
from conversations.choices import ConversationStatus
from conversations.models import AICallLog, AIToolCallLog, EngineDecision, HandoffEvent
from conversations.tests.ai_server import tool_call
from conversations.tests.engine_support import (
    Customer,
    Flows,
    body_of,
    bot_reset,
    default_bot,
    token,
)
from templates.choices import FlowAction
from tests.tenancy import tenant_client

pytestmark = pytest.mark.worker

Path = EngineDecision.Path


@pytest.fixture
def flows(alpha, live_db):
    flows = Flows(alpha.tenant.schema_name)
    yield flows
    flows.cleanup()


@pytest.fixture
def ai_settings(alpha, live_db):
    """Change alpha's AI settings for one test; they are put back afterwards."""
    schema = alpha.tenant.schema_name
    with schema_context(schema):
        saved = ai_settings_get()
        before = {"daily_token_budget": saved.daily_token_budget, "timeout_seconds": saved.timeout_seconds}

    def change(**changes):
        with schema_context(schema):
            ai_settings_update(**changes)

    yield change
    with schema_context(schema):
        ai_settings_update(enabled=True, **before)


@pytest.fixture
def fallback(flows):
    template = flows.text(f"Thanks, a colleague will answer soon ({token()})")
    flows.fallback(template)
    return template


def test_a_message_no_rule_matches_is_answered_by_the_ai(live_sandbox, alpha, ai_server):
    ai_server.reply("We are open from 9 to 6, Monday to Saturday.")
    customer = Customer(live_sandbox, alpha)
    question = f"when are you open on weekdays {token()}"

    decision, sent = customer.answer(customer.says(question))

    assert decision.path == Path.AI
    assert decision.ai_call_id is not None
    assert [body_of(r) for r in sent] == ["We are open from 9 to 6, Monday to Saturday."]
    assert ai_server.requests[-1]["messages"][-1] == {"role": "user", "content": question}
    memory = memory_get(schema_name=alpha.tenant.schema_name, contact_id=customer.contact().pk)
    assert [(m["role"], m["content"]) for m in memory[-2:]] == [
        ("user", question),
        ("assistant", "We are open from 9 to 6, Monday to Saturday."),
    ]


def test_a_rule_answer_is_remembered_for_the_ai(live_sandbox, alpha, flows, ai_server):
    word = token()
    flows.rule(word, flows.text(f"Our {word} costs 10"))
    customer = Customer(live_sandbox, alpha)
    customer.answer(customer.says(f"price of {word}?"))
    ai_server.reply("Yes, it comes in blue.")

    decision, _ = customer.answer(customer.says(f"does it come in blue {token()}"))

    assert decision.path == Path.AI
    sent_history = [(m["role"], m["content"]) for m in ai_server.requests[-1]["messages"][1:]]
    assert sent_history[:2] == [("user", f"price of {word}?"), ("assistant", f"Our {word} costs 10")]


def test_a_rule_can_hand_the_message_to_the_ai(live_sandbox, alpha, flows, ai_server):
    word = token()
    rule = flows.rule(word, action=FlowAction.AI)
    ai_server.reply("Happy to explain the difference.")
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says(f"explain {word} to me"))

    assert decision.path == Path.AI
    assert decision.rule_id == rule.pk
    assert [body_of(r) for r in sent] == ["Happy to explain the difference."]


def test_the_ai_can_answer_with_a_template(live_sandbox, alpha, flows, ai_server):
    brochure = flows.text(f"Here is our brochure ({token()})")
    ai_server.reply_tools(tool_call("send_template", {"template_key": brochure.key}))
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says(f"send me something to read {token()}"))

    assert decision.path == Path.AI
    assert decision.template_key == brochure.key
    assert [body_of(r) for r in sent] == [brochure.body]


def test_an_exhausted_budget_gets_the_fallback_without_an_ai_call(
    live_sandbox, alpha, ai_settings, fallback, ai_server
):
    ai_settings(daily_token_budget=0)
    requests = len(ai_server.requests)
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says(f"tell me everything {token()}"))

    assert decision.path == Path.FALLBACK
    assert "budget_exhausted" in decision.reason
    assert [body_of(r) for r in sent] == [fallback.body]
    assert len(ai_server.requests) == requests


def test_an_ai_timeout_gets_the_fallback(live_sandbox, alpha, ai_settings, fallback, ai_server):
    ai_settings(timeout_seconds=1.0)
    ai_server.reply("Too late to matter.", delay=3.0)
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says(f"are you there {token()}"))

    assert decision.path == Path.FALLBACK
    assert "ai_timeout" in decision.reason
    assert [body_of(r) for r in sent] == [fallback.body]
    with schema_context(alpha.tenant.schema_name):
        assert AICallLog.objects.get(pk=decision.ai_call_id).outcome == "timeout"


def test_an_ai_error_gets_the_fallback(live_sandbox, alpha, fallback, ai_server):
    ai_server.fail(503, "overloaded")
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says(f"what now {token()}"))

    assert decision.path == Path.FALLBACK
    assert "ai_error" in decision.reason
    assert [body_of(r) for r in sent] == [fallback.body]


def test_malformed_tool_calls_are_not_run_and_the_customer_still_gets_an_answer(live_sandbox, alpha, ai_server):
    ai_server.reply_tools(
        tool_call("capture_lead", "{not json"),
        tool_call("delete_all_leads", {}),
        tool_call("handoff_to_human", {"reason": 42}),
    )
    ai_server.reply("Could you tell me your name?")
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says(f"I want to buy {token()}"))

    assert decision.path == Path.AI
    assert [body_of(r) for r in sent] == ["Could you tell me your name?"]
    assert customer.conversation().status == ConversationStatus.OPEN
    with schema_context(alpha.tenant.schema_name):
        outcomes = list(
            AIToolCallLog.objects.filter(call_id=decision.ai_call_id).values_list("name", "outcome").order_by("id")
        )
    assert outcomes == [
        ("capture_lead", "rejected"),
        ("delete_all_leads", "rejected"),
        ("handoff_to_human", "rejected"),
    ]
    # The model was told each call failed, and answered in its second round.
    tool_messages = [m for m in ai_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert [json.loads(m["content"])["ok"] for m in tool_messages] == [False, False, False]


def test_another_tenants_template_is_never_sent(live_sandbox, alpha, beta, flows, ai_server, live_db):
    theirs = Flows(beta.tenant.schema_name)
    try:
        beta_template = theirs.text(f"Beta's private price list ({token()})")
        # The AI names Beta's key: rejected, and the model answers in text instead.
        ai_server.reply_tools(tool_call("send_template", {"template_key": beta_template.key}))
        ai_server.reply("Let me describe our prices instead.")
        customer = Customer(live_sandbox, alpha)

        decision, sent = customer.answer(customer.says(f"the catalogue please {token()}"))

        assert [body_of(r) for r in sent] == ["Let me describe our prices instead."]
        assert decision.template_key == ""
        with schema_context(alpha.tenant.schema_name):
            (call,) = AIToolCallLog.objects.filter(call_id=decision.ai_call_id)
        assert (call.outcome, call.reason) == ("rejected", f"there is no template with key {beta_template.key}")

        # Nor can a rule of Alpha's point at it.
        response = tenant_client(alpha, login=True).post(
            "/api/flow-rules/",
            {"name": "steal", "pattern": "x", "action": "send_template", "template": beta_template.key},
            content_type="application/json",
        )
        assert response.status_code in (400, 422), response.content
        assert "template" in response.json()["fields"]
    finally:
        theirs.cleanup()


def test_the_ai_hands_over_and_the_bot_goes_silent(live_sandbox, alpha, ai_server):
    ai_server.reply_tools(tool_call("handoff_to_human", {"reason": "wants to negotiate"}))
    ai_server.reply("I am passing you to a colleague.")
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says(f"can I get a discount {token()}"))

    assert decision.path == Path.AI
    assert "wants to negotiate" in decision.reason
    assert [body_of(r) for r in sent] == ["I am passing you to a colleague."]
    conversation = customer.conversation()
    assert conversation.status == ConversationStatus.HANDED_OFF
    with schema_context(alpha.tenant.schema_name):
        assert HandoffEvent.objects.get(conversation=conversation).actor_label == "ai"

    requests = len(ai_server.requests)
    decision, sent = customer.answer(customer.says(f"hello? {token()}"))
    assert (decision.path, sent) == (Path.SILENT_HANDOFF, [])
    assert len(ai_server.requests) == requests


def test_a_bot_without_ai_answers_with_the_fallback(live_sandbox, alpha, fallback, ai_server):
    schema = alpha.tenant.schema_name
    bot = default_bot(schema)
    try:
        with schema_context(schema):
            type(bot).objects.filter(pk=bot.pk).update(ai_enabled=False)
            config_changed()  # QuerySet.update sends no signal; the engine's bot snapshot must follow
        requests = len(ai_server.requests)
        customer = Customer(live_sandbox, alpha)

        decision, sent = customer.answer(customer.says(f"tell me a story {token()}"))

        assert decision.path == Path.FALLBACK
        assert "AI is off" in decision.reason
        assert [body_of(r) for r in sent] == [fallback.body]
        assert len(ai_server.requests) == requests
    finally:
        bot_reset(schema)


def test_a_bots_own_prompt_replaces_the_tenants_instructions(live_sandbox, alpha, ai_server):
    schema = alpha.tenant.schema_name
    bot = default_bot(schema)
    prompt = f"You are Riya, the front desk of the evening clinic ({token()})."
    try:
        with schema_context(schema):
            type(bot).objects.filter(pk=bot.pk).update(system_prompt=prompt)
        ai_server.reply("Riya here, how can I help?")
        customer = Customer(live_sandbox, alpha)

        decision, sent = customer.answer(customer.says(f"who am I talking to {token()}"))

        assert decision.path == Path.AI
        system = ai_server.requests[-1]["messages"][0]
        assert system["role"] == "system" and system["content"].startswith(prompt)
        assert [body_of(r) for r in sent] == ["Riya here, how can I help?"]
    finally:
        bot_reset(schema)
