"""The AI assistant against a local OpenAI-compatible server over real HTTP.

Covers what is sent (system prompt, last 10 messages, tools), what comes back (text, tool
calls executed or rejected), fallbacks (timeout, HTTP error, budgets, disabled) and the
call log.
"""

import json

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from bizmitra.events import listens_to
from conversations.ai import budgets
from conversations.ai.memory import MEMORY_WINDOW, memory_append, memory_get
from conversations.ai.services import ai_settings_update, assistant_reply
from conversations.ai.store import redis_client
from conversations.choices import ConversationStatus
from conversations.models import AICallLog, AIToolCallLog
from conversations.tests.ai_server import FakeAIServer, tool_call
from conversations.tests.ai_support import ai_redis_clear, conversation_make, history_add, message_add
from leads.models import Lead
from templates.services import template_create

TOOL_NAMES = {"capture_lead", "handoff_to_human", "send_template"}


@pytest.fixture
def ai_server(settings):
    server = FakeAIServer().start()
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "platform-key"
    settings.OPENAI_MODEL = "platform-model"
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_ai_redis():
    ai_redis_clear()
    yield
    ai_redis_clear()


class _Events:
    def __init__(self):
        self.events = []

    def __call__(self, *, event_name, schema_name, **payload):
        self.events.append({"event": event_name, "schema": schema_name, **payload})


events = _Events()
listens_to("conversation.updated")(events)


def ask(conversation, text="Hi, what do you sell?"):
    inbound = message_add(conversation, text)
    return inbound, assistant_reply(conversation=conversation, inbound_message=inbound)


def only_log() -> AICallLog:
    (log,) = AICallLog.objects.all()
    return log


class TestTextReply:
    def test_plain_text_reply_sends_profile_knowledge_and_tools(self, in_alpha, ai_server):
        ai_settings_update(
            business_profile="Shuddh Dairy: ghee, paneer and milk in Pune.",
            knowledge="Ghee costs 650 rupees per 500 g.",
            temperature=0.2,
            model="dairy-model",
        )
        ai_server.reply("We sell ghee, paneer and milk.", prompt_tokens=120, completion_tokens=9)
        conversation = conversation_make()

        inbound, reply = ask(conversation)

        assert reply.kind == "text" and reply.text == "We sell ghee, paneer and milk." and reply.reason == ""
        (request,) = ai_server.requests
        assert request["model"] == "dairy-model" and request["temperature"] == 0.2
        system = request["messages"][0]
        assert system["role"] == "system"
        assert "Shuddh Dairy: ghee, paneer and milk in Pune." in system["content"]
        assert "Ghee costs 650 rupees per 500 g." in system["content"]
        assert "Alpha Dental" in system["content"]  # the default prompt names the business
        assert "'Asha'" in system["content"]  # the contact's WhatsApp profile name
        assert request["messages"][1:] == [{"role": "user", "content": "Hi, what do you sell?"}]
        assert {t["function"]["name"] for t in request["tools"]} == TOOL_NAMES
        for tool in request["tools"]:
            assert tool["type"] == "function"
            assert tool["function"]["parameters"]["type"] == "object"
            assert tool["function"]["parameters"]["additionalProperties"] is False
        assert "tool_choice" not in request
        assert ai_server.headers[0]["authorization"] == "Bearer platform-key"

        log = only_log()
        assert (log.outcome, log.reason, log.reply_kind) == ("ok", "", "text")
        assert (log.prompt_tokens, log.completion_tokens, log.rounds) == (120, 9, 1)
        assert log.model == "dairy-model" and log.latency_ms >= 0
        assert log.contact_id == conversation.contact_id and log.inbound_message_id == inbound.pk
        assert reply.log_id == log.pk
        assert budgets.tokens_used_today(schema_name="alpha") == 129

    def test_platform_model_and_tenant_own_key(self, in_alpha, ai_server):
        ai_settings_update(api_key="sk-tenant-own")
        ai_server.reply("Hello")
        ask(conversation_make())
        assert ai_server.requests[0]["model"] == "platform-model"
        assert ai_server.headers[0]["authorization"] == "Bearer sk-tenant-own"
        with connection.cursor() as cursor:
            cursor.execute("SELECT api_key FROM conversations_aiassistantsettings")
            (stored,) = cursor.fetchone()
        assert "sk-tenant-own" not in stored

    def test_last_ten_messages_are_sent_seeded_from_the_database(self, in_alpha, ai_server):
        conversation = conversation_make()
        history_add(conversation, 14)
        ai_server.reply("Sure.")

        ask(conversation, "and the latest question")

        sent = ai_server.requests[0]["messages"][1:]
        assert len(sent) == MEMORY_WINDOW
        assert sent[-1] == {"role": "user", "content": "and the latest question"}
        assert [m["content"] for m in sent[:-1]] == [f"history {i}" for i in range(5, 14)]
        assert [m["role"] for m in sent[:-1]] == ["user" if i % 2 == 0 else "assistant" for i in range(5, 14)]

    def test_memory_carries_the_conversation_between_calls(self, in_alpha, ai_server):
        conversation = conversation_make()
        ai_server.reply("We open at 7.")
        ai_server.reply("Yes, on Sundays too.")

        _, first = ask(conversation, "When do you open?")
        # The engine remembers what it sent.
        memory_append(schema_name="alpha", contact_id=conversation.contact_id, role="assistant", content=first.text)
        ask(conversation, "Sundays too?")

        assert ai_server.requests[1]["messages"][1:] == [
            {"role": "user", "content": "When do you open?"},
            {"role": "assistant", "content": "We open at 7."},
            {"role": "user", "content": "Sundays too?"},
        ]

    def test_answering_the_same_message_twice_remembers_it_once(self, in_alpha, ai_server):
        conversation = conversation_make()
        inbound = message_add(conversation, "Hello?")
        ai_server.reply("Hi!")
        ai_server.reply("Hi!")
        assistant_reply(conversation=conversation, inbound_message=inbound)
        assistant_reply(conversation=conversation, inbound_message=inbound)
        window = memory_get(schema_name="alpha", contact_id=conversation.contact_id)
        assert [e["content"] for e in window] == ["Hello?"]


class TestTools:
    def test_capture_lead_saves_the_lead_then_answers(self, in_alpha, ai_server):
        conversation = conversation_make(name="Asha W")
        call = tool_call(
            "capture_lead",
            {"name": "Asha", "email": "Asha@Example.com", "location": "Pune", "interest": "A2 ghee"},
            call_id="call_lead1",
        )
        ai_server.reply_tools(call)
        ai_server.reply("Thanks Asha, our team will call you.")

        _, reply = ask(conversation, "I'm Asha from Pune, asha@example.com, I want A2 ghee")

        assert reply.kind == "text" and reply.text == "Thanks Asha, our team will call you."
        lead = Lead.objects.get(contact=conversation.contact)
        assert (lead.name, lead.email, lead.location, lead.product_interest) == (
            "Asha",
            "asha@example.com",
            "Pune",
            "A2 ghee",
        )
        assert lead.source == "whatsapp"
        second = ai_server.requests[1]["messages"]
        assert second[-2]["role"] == "assistant" and second[-2]["tool_calls"][0]["id"] == "call_lead1"
        assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "call_lead1"
        result = json.loads(second[-1]["content"])
        assert result["ok"] is True and result["lead_id"] == lead.pk
        (tool_log,) = AIToolCallLog.objects.all()
        assert (tool_log.name, tool_log.outcome, tool_log.call_id) == ("capture_lead", "executed", only_log().pk)
        log = only_log()
        assert (log.outcome, log.rounds, log.prompt_tokens) == ("ok", 2, 100)

    def test_capture_lead_with_an_invalid_email_is_rejected_by_the_leads_app(self, in_alpha, ai_server):
        conversation = conversation_make()
        ai_server.reply_tools(tool_call("capture_lead", {"email": "not-an-email"}))
        ai_server.reply("Could you check your email address?")

        _, reply = ask(conversation)

        assert reply.text == "Could you check your email address?"
        assert not Lead.objects.filter(contact=conversation.contact).exists()
        (tool_log,) = AIToolCallLog.objects.all()
        assert tool_log.outcome == "rejected" and "email" in tool_log.reason
        assert json.loads(ai_server.requests[1]["messages"][-1]["content"])["ok"] is False
        assert only_log().outcome == "rejected_tool"

    def test_handoff_hands_the_conversation_to_a_person(self, in_alpha, ai_server, django_capture_on_commit_callbacks):
        conversation = conversation_make()
        ai_server.reply_tools(tool_call("handoff_to_human", {"reason": "Customer asks for a person"}))
        ai_server.reply("I'm connecting you with our team.")
        events.events.clear()

        with django_capture_on_commit_callbacks(execute=True):
            _, reply = ask(conversation, "I want to talk to a human")

        assert reply.kind == "handoff" and reply.reason == "Customer asks for a person"
        assert reply.text == "I'm connecting you with our team."
        conversation.refresh_from_db()
        assert conversation.status == ConversationStatus.HANDED_OFF
        assert conversation.handoff_reason == "Customer asks for a person" and conversation.handed_off_at
        assert [(e["schema"], e["conversation_id"], e["status"]) for e in events.events] == [
            ("alpha", conversation.pk, "handed_off")
        ]
        assert only_log().reply_kind == "handoff"

    def test_send_template_with_a_key_of_this_tenant(self, in_alpha, ai_server):
        template = template_create(name="Price list", body="Ghee 650, paneer 90", description="All prices")
        ai_server.reply_tools(tool_call("send_template", {"template_key": template.key}))

        _, reply = ask(conversation_make(), "prices?")

        assert (reply.kind, reply.template_key, reply.text) == ("template", template.key, "")
        # The template is the answer: no second round.
        assert len(ai_server.requests) == 1
        assert f"{template.key}: Price list (All prices)" in ai_server.requests[0]["messages"][0]["content"]
        (tool_log,) = AIToolCallLog.objects.all()
        assert tool_log.outcome == "executed"

    def test_send_template_with_unknown_or_other_tenant_key_is_rejected(self, in_alpha, ai_server):
        with schema_context("beta"):
            beta_template = template_create(name="Beta menu", body="Haircuts")
        ai_server.reply_tools(
            tool_call("send_template", {"template_key": beta_template.key}),
            tool_call("send_template", {"template_key": "tmpl_zzzzzzzz"}),
            tool_call("send_template", {"template_key": "menu"}),
        )
        ai_server.reply("Here is what we offer: ...")

        _, reply = ask(conversation_make(), "menu please")

        assert reply.kind == "text" and reply.template_key == ""
        logs = list(AIToolCallLog.objects.order_by("id"))
        assert [t.outcome for t in logs] == ["rejected"] * 3
        assert f"no template with key {beta_template.key}" in logs[0].reason
        assert "no template with key tmpl_zzzzzzzz" in logs[1].reason
        assert "does not match" in logs[2].reason
        tool_messages = [m for m in ai_server.requests[1]["messages"] if m["role"] == "tool"]
        assert [json.loads(m["content"])["ok"] for m in tool_messages] == [False, False, False]
        log = only_log()
        assert log.outcome == "rejected_tool" and "tmpl_zzzzzzzz" in log.detail

    def test_malformed_and_unknown_tool_calls_are_rejected_logged_and_not_executed(
        self, in_alpha, ai_server, django_capture_on_commit_callbacks
    ):
        conversation = conversation_make()
        ai_server.reply_tools(
            tool_call("capture_lead", '{"name": "Asha"'),  # not JSON
            tool_call("handoff_to_human", {}),  # missing required
            tool_call("capture_lead", {"name": 5}),  # wrong type
            tool_call("capture_lead", {"name": "Asha", "budget": "high"}),  # extra property
            tool_call("handoff_to_human", '["not", "an", "object"]'),
            tool_call("delete_all_leads", {}),  # unknown tool
        )
        ai_server.reply("How can I help?")
        events.events.clear()

        with django_capture_on_commit_callbacks(execute=True):
            _, reply = ask(conversation)

        assert reply.kind == "text" and reply.text == "How can I help?"
        assert not Lead.objects.filter(contact=conversation.contact).exists()
        conversation.refresh_from_db()
        assert conversation.status == ConversationStatus.OPEN and events.events == []
        logs = list(AIToolCallLog.objects.order_by("id"))
        assert [t.outcome for t in logs] == ["rejected"] * 6
        reasons = [t.reason for t in logs]
        assert "not valid JSON" in reasons[0]
        assert "'reason' is a required property" in reasons[1]
        assert "5 is not of type 'string'" in reasons[2]
        assert "Additional properties are not allowed" in reasons[3]
        assert "must be a JSON object" in reasons[4]
        assert "unknown tool 'delete_all_leads'" in reasons[5]
        assert logs[0].arguments == '{"name": "Asha"'
        assert [r.outcome for r in reply.tool_calls] == ["rejected"] * 6
        assert only_log().outcome == "rejected_tool"

    def test_at_most_three_rounds_and_the_last_one_must_be_text(self, in_alpha, ai_server):
        conversation = conversation_make()
        for _ in range(3):
            ai_server.reply_tools(tool_call("capture_lead", {"location": "Pune"}))

        _, reply = ask(conversation)

        assert len(ai_server.requests) == 3
        assert [r.get("tool_choice") for r in ai_server.requests] == [None, None, "none"]
        assert reply.kind == "fallback" and reply.reason == "ai_error"
        outcomes = [t.outcome for t in AIToolCallLog.objects.order_by("id")]
        assert outcomes == ["executed", "executed", "rejected"]
        log = only_log()
        assert (log.outcome, log.reason, log.rounds, log.detail) == ("error", "ai_error", 3, "empty answer")


class TestFallbacks:
    def test_timeout_falls_back(self, in_alpha, ai_server):
        ai_settings_update(timeout_seconds=1.0)
        ai_server.reply("too late", delay=3)

        _, reply = ask(conversation_make())

        assert (reply.kind, reply.reason, reply.text) == ("fallback", "ai_timeout", "")
        log = only_log()
        assert (log.outcome, log.reason, log.reply_kind) == ("timeout", "ai_timeout", "fallback")

    def test_server_error_falls_back(self, in_alpha, ai_server):
        ai_server.fail(500, "model overloaded")

        _, reply = ask(conversation_make())

        assert (reply.kind, reply.reason) == ("fallback", "ai_error")
        log = only_log()
        assert (log.outcome, log.reason) == ("error", "ai_error") and "HTTP 500" in log.detail

    def test_unreachable_endpoint_falls_back(self, in_alpha, settings):
        ai_server = FakeAIServer().start()
        settings.OPENAI_BASE_URL = ai_server.base_url
        ai_server.stop()

        _, reply = ask(conversation_make())

        assert (reply.kind, reply.reason) == ("fallback", "ai_error")

    def test_handoff_stands_when_the_final_round_fails(self, in_alpha, ai_server):
        conversation = conversation_make()
        ai_server.reply_tools(tool_call("handoff_to_human", {"reason": "angry"}))
        ai_server.fail(503)

        _, reply = ask(conversation)

        assert (reply.kind, reply.reason, reply.text) == ("handoff", "angry", "")
        conversation.refresh_from_db()
        assert conversation.status == ConversationStatus.HANDED_OFF
        assert only_log().outcome == "error"

    def test_daily_budget_exhausted_makes_no_call(self, in_alpha, ai_server):
        ai_settings_update(daily_token_budget=100)
        ai_server.reply("first", prompt_tokens=90, completion_tokens=20)
        conversation = conversation_make()

        _, first = ask(conversation)
        _, second = ask(conversation, "and another thing")

        assert first.kind == "text"
        assert (second.kind, second.reason, second.text) == ("fallback", "budget_exhausted", "")
        assert len(ai_server.requests) == 1
        fallback = AICallLog.objects.get(reason="budget_exhausted")
        assert (fallback.outcome, fallback.prompt_tokens, fallback.rounds) == ("fallback", 0, 0)
        assert "110 of 100" in fallback.detail

    def test_budget_is_per_tenant(self, in_alpha, ai_server):
        ai_settings_update(daily_token_budget=100)
        budgets.tokens_record(schema_name="beta", tokens=5_000)
        ai_server.reply("fine")
        _, reply = ask(conversation_make())
        assert reply.kind == "text"

    def test_per_contact_hourly_cap(self, in_alpha, ai_server):
        ai_settings_update(per_contact_hourly_cap=2)
        for _ in range(3):
            ai_server.reply("ok")
        capped, other = conversation_make(), conversation_make(name="Other")

        replies = [ask(capped, f"question {i}")[1] for i in range(3)]
        _, other_reply = ask(other)

        assert [r.kind for r in replies] == ["text", "text", "fallback"]
        assert replies[2].reason == "contact_hourly_cap"
        assert other_reply.kind == "text"
        assert len(ai_server.requests) == 3
        key = budgets.contact_calls_key(schema_name="alpha", contact_id=capped.contact_id)
        assert 3590 <= redis_client().ttl(key) <= 3600
        assert AICallLog.objects.filter(outcome="fallback", reason="contact_hourly_cap").count() == 1

    def test_disabled_agent_makes_no_call(self, in_alpha, ai_server):
        ai_settings_update(enabled=False)
        _, reply = ask(conversation_make())
        assert (reply.kind, reply.reason) == ("fallback", "ai_disabled")
        assert ai_server.requests == []
        assert only_log().reason == "ai_disabled"

    def test_empty_answer_falls_back(self, in_alpha, ai_server):
        ai_server.reply("")
        _, reply = ask(conversation_make())
        assert (reply.kind, reply.reason) == ("fallback", "ai_error")

    def test_missing_usage_is_estimated_for_the_budget(self, in_alpha, ai_server):
        ai_server.reply("A reply without a usage block", usage=False)
        _, reply = ask(conversation_make())
        assert reply.kind == "text"
        log = only_log()
        assert log.prompt_tokens > 0 and log.completion_tokens > 0
        assert budgets.tokens_used_today(schema_name="alpha") == log.total_tokens
