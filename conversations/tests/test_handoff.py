"""Human takeover: handing a conversation to a person (API, admin, rule, agent reply), the
bot's silence meanwhile, and the way back (explicit, idle auto-return, the beat task)."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tenants.utils import schema_context

from bizmitra.events import listens_to
from conversations.choices import ConversationStatus, Direction, MessageStatus, MessageType
from conversations.engine.handoff import conversation_handoff, handoffs_auto_return
from conversations.engine.tasks import handoff_auto_return_task
from conversations.models import Contact, Conversation, EngineDecision, HandoffEvent, HandoffSettings, Message
from conversations.tests.engine_support import (
    Customer,
    Flows,
    body_of,
    bot_reset,
    default_bot,
    token,
    unique_wa_id,
)
from tests.support import wait_for
from tests.tenancy import ALPHA, tenant_client

Path = EngineDecision.Path


class _Updates:
    """``conversation.updated`` events published in this process."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, *, event_name: str, schema_name: str, **payload) -> None:
        with self.lock:
            self.events.append({"schema": schema_name, **payload})

    def for_conversation(self, conversation_id: int) -> list[str]:
        with self.lock:
            return [e["status"] for e in self.events if e["conversation_id"] == conversation_id]


updates = _Updates()
listens_to("conversation.updated")(updates)


@pytest.fixture
def flows(alpha, live_db):
    flows = Flows(alpha.tenant.schema_name)
    yield flows
    flows.cleanup()


@pytest.fixture
def bots(alpha, live_db):
    yield default_bot(alpha.tenant.schema_name)
    bot_reset(alpha.tenant.schema_name)


def owner(onboarding):
    with schema_context(onboarding.tenant.schema_name):
        return get_user_model().objects.get(username=onboarding.owner_email)


@pytest.mark.worker
def test_a_person_takes_over_answers_and_gives_the_conversation_back(live_sandbox, alpha, flows):
    word = token()
    flows.rule(word, flows.text(f"Bot answer ({word})"))
    customer = Customer(live_sandbox, alpha)
    customer.answer(customer.says(word))
    conversation = customer.conversation()
    client = tenant_client(alpha, login=True)

    response = client.post(
        f"/api/conversations/{conversation.pk}/handoff/", {"reason": "VIP customer"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["handoff_reason"], body["changed"]) == ("handed_off", "VIP customer", True)
    assert body["assigned_agent"] == owner(alpha).pk
    again = client.post(f"/api/conversations/{conversation.pk}/handoff/", {}, content_type="application/json")
    assert (again.status_code, again.json()["changed"]) == (200, False)

    decision, sent = customer.answer(customer.says(word))
    assert (decision.path, sent) == (Path.SILENT_HANDOFF, [])

    response = client.post(
        f"/api/conversations/{conversation.pk}/reply/", {"text": "Hi, Priya here."}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    (agent_reply,) = [r for r in customer.wait_received(2) if body_of(r) == "Hi, Priya here."]
    with schema_context(alpha.tenant.schema_name):
        assert Message.objects.get(pk=response.json()["message_id"]).sent_by == owner(alpha)

    response = client.post(f"/api/conversations/{conversation.pk}/return-to-bot/")
    assert (response.status_code, response.json()["status"], response.json()["changed"]) == (200, "open", True)

    decision, sent = customer.answer(customer.says(word))
    assert decision.path == Path.RULE
    assert [body_of(r) for r in sent] == [f"Bot answer ({word})"]
    with schema_context(alpha.tenant.schema_name):
        events = list(HandoffEvent.objects.filter(conversation=conversation).order_by("at", "id"))
    assert [(e.action, e.actor_label) for e in events] == [
        ("handoff", ALPHA["owner_email"]),
        ("return", ALPHA["owner_email"]),
    ]
    assert updates.for_conversation(conversation.pk) == ["handed_off", "open"]


@pytest.mark.worker
def test_an_agent_reply_takes_the_conversation_over(live_sandbox, alpha):
    customer = Customer(live_sandbox, alpha)
    customer.answer(customer.says("hello"))
    conversation = customer.conversation()

    response = tenant_client(alpha, login=True).post(
        f"/api/conversations/{conversation.pk}/reply/",
        {"text": "I'll take it from here"},
        content_type="application/json",
    )

    assert response.status_code == 202, response.content
    conversation = customer.conversation()
    assert (conversation.status, conversation.handoff_reason) == (ConversationStatus.HANDED_OFF, "agent replied")
    decision, sent = customer.answer(customer.says("hello again"))
    assert (decision.path, sent) == (Path.SILENT_HANDOFF, [])


@pytest.mark.worker
def test_the_support_intent_answers_and_hands_over(live_sandbox, alpha):
    customer = Customer(live_sandbox, alpha)

    decision, (sent,) = customer.answer(customer.says("I need help with my order"))

    assert decision.path == Path.BUILTIN
    assert decision.rule_name == "Built-in: Support"
    assert "A member of our team will reply here shortly" in body_of(sent)
    conversation = customer.conversation()
    assert conversation.status == ConversationStatus.HANDED_OFF
    with schema_context(alpha.tenant.schema_name):
        assert HandoffEvent.objects.get(conversation=conversation).actor_label == "rule:Built-in: Support"
    decision, sent = customer.answer(customer.says("hello?"))
    assert (decision.path, sent) == (Path.SILENT_HANDOFF, [])


@pytest.mark.worker
def test_an_idle_takeover_returns_to_the_bot_on_the_next_message(live_sandbox, alpha, flows, bots):
    word = token()
    flows.rule(word, flows.text(f"Back with the bot ({word})"))
    with schema_context(alpha.tenant.schema_name):
        HandoffSettings.objects.create(bot=bots, auto_return_after_minutes=15)
    customer = Customer(live_sandbox, alpha)
    customer.answer(customer.says(word))
    conversation = customer.conversation()
    with schema_context(alpha.tenant.schema_name):
        conversation_handoff(conversation=conversation, by=owner(alpha), reason="checking stock")
        decision, sent = customer.answer(customer.says(word))
        assert (decision.path, sent) == (Path.SILENT_HANDOFF, [])
        # Test data: the takeover started 20 minutes ago and nobody wrote since.
        Conversation.objects.filter(pk=conversation.pk).update(handed_off_at=timezone.now() - timedelta(minutes=20))

    decision, sent = customer.answer(customer.says(word))

    assert decision.path == Path.RULE
    assert "returned to the bot: no agent activity for 15 min" in decision.reason
    assert [body_of(r) for r in sent] == [f"Back with the bot ({word})"]
    assert customer.conversation().status == ConversationStatus.OPEN
    with schema_context(alpha.tenant.schema_name):
        last = HandoffEvent.objects.filter(conversation=conversation).order_by("-at", "-id").first()
    assert (last.action, last.actor_label) == ("return", "system")


@pytest.mark.worker
def test_the_beat_task_returns_idle_takeovers_in_every_tenant(live_db, alpha, celery_worker, bots):
    schema = alpha.tenant.schema_name
    with schema_context(schema):
        HandoffSettings.objects.create(bot=bots, auto_return_after_minutes=30)
        idle = _handed_off_conversation(minutes_ago=45)
        busy = _handed_off_conversation(minutes_ago=45)
        _agent_message(busy, minutes_ago=5)

    handoff_auto_return_task.delay()

    def returned():
        with schema_context(schema):
            return Conversation.objects.get(pk=idle.pk).status == ConversationStatus.OPEN

    wait_for(returned, timeout=20, what="the idle conversation to return to the bot")
    with schema_context(schema):
        assert Conversation.objects.get(pk=busy.pk).status == ConversationStatus.HANDED_OFF
        Conversation.objects.filter(pk=busy.pk).update(status=ConversationStatus.CLOSED)


def test_auto_return_never_happens_when_switched_off(in_alpha):
    bot = default_bot(in_alpha.schema_name)
    HandoffSettings.objects.create(bot=bot, auto_return_after_minutes=0)
    conversation = _handed_off_conversation(minutes_ago=60 * 24 * 30)

    assert handoffs_auto_return() == 0
    assert Conversation.objects.get(pk=conversation.pk).status == ConversationStatus.HANDED_OFF


def test_the_admin_takeover_actions_hand_over_and_return(live_db, alpha, bots):
    schema = alpha.tenant.schema_name
    with schema_context(schema):
        conversation = _open_conversation()
    client = tenant_client(alpha, login=True)
    url = "/admin/conversations/humantakeover/"
    assert client.get(url).status_code == 200

    response = client.post(url, {"action": "hand_over_to_me", "_selected_action": [conversation.pk]})
    assert response.status_code == 302
    with schema_context(schema):
        conversation.refresh_from_db()
        assert conversation.status == ConversationStatus.HANDED_OFF
        assert conversation.assigned_agent == owner(alpha)

    response = client.post(url, {"action": "return_to_bot", "_selected_action": [conversation.pk]})
    assert response.status_code == 302
    with schema_context(schema):
        conversation.refresh_from_db()
        assert conversation.status == ConversationStatus.OPEN
        labels = list(HandoffEvent.objects.filter(conversation=conversation).values_list("action", flat=True))
    assert sorted(labels) == ["handoff", "return"]


def test_the_reply_api_refuses_empty_text_and_the_bots_own_keys(live_db, alpha):
    with schema_context(alpha.tenant.schema_name):
        conversation = _open_conversation()
    client = tenant_client(alpha, login=True)
    url = f"/api/conversations/{conversation.pk}/reply/"

    assert client.post(url, {"text": "  "}, content_type="application/json").status_code == 422
    response = client.post(url, {"text": "hi", "idempotency_key": "reply:wamid.x"}, content_type="application/json")
    assert response.status_code == 422
    assert client.post("/api/conversations/999999999/handoff/").status_code == 404


def _open_conversation() -> Conversation:
    contact = Contact.objects.create(wa_id=unique_wa_id(), profile_name="Ravi", last_inbound_at=timezone.now())
    return Conversation.objects.create(contact=contact, phone_number_id=ALPHA["phone_number_id"])


def _handed_off_conversation(*, minutes_ago: int) -> Conversation:
    conversation = _open_conversation()
    Conversation.objects.filter(pk=conversation.pk).update(
        status=ConversationStatus.HANDED_OFF, handed_off_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    conversation.refresh_from_db()
    return conversation


def _agent_message(conversation: Conversation, *, minutes_ago: int) -> Message:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    message = Message.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        type=MessageType.TEXT,
        body="Checking for you",
        idempotency_key=f"agent-{unique_wa_id()}",
        status=MessageStatus.SENT,
        timestamp=at,
        sent_by=get_user_model().objects.first(),
    )
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message
