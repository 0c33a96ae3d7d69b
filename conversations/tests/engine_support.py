"""Helpers for the conversation engine's end-to-end tests.

The path under test is the production one: the session's Graph sandbox plays the customer
and posts signed webhooks to a live granian server of ours (``live_web``; both fixtures are
made available to the conversations tests by ``conversations/tests/conftest.py``), the real Celery
worker ingests them, the engine decides and queues the answer, the worker sends it to the
sandbox, which records it. The AI assistant talks to the session's ``ai_server``.

Flows and bots created by a test are removed when it ends (``Flows``, ``bot_reset``): the
tenants live for the whole session and rules are tenant-wide unless scoped to a bot. Keywords carry a random
token so no test's rule can answer another test's message.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django_tenants.utils import schema_context

from bizmitra.config_cache import config_changed
from conversations.choices import Direction
from conversations.models import Bot, Contact, Conversation, EngineDecision, Message
from templates.choices import FlowAction, MatchType, TemplateKind
from templates.models import FlowRule, FlowSettings, MessageTemplate, TemplateButton
from tests.support import PYTHON, ROOT, free_port, start_process, stop_process, subprocess_env, wait_for, wait_for_port

DECISION_TIMEOUT = 30.0
WEBHOOK_PATH = "/webhooks/whatsapp/"


def token() -> str:
    """A random lower-case word for keywords no other test (or built-in intent) uses."""
    return "zq" + uuid.uuid4().hex[:10]


def unique_wa_id() -> str:
    return "1777" + str(uuid.uuid4().int)[:9]


@pytest.fixture(scope="session")
def live_web(tenants_setup, django_db_blocker):
    """Our web app under granian (as in production) on a free port, for the sandbox's webhooks."""
    port = free_port()
    with django_db_blocker.unblock():
        env = subprocess_env()
    granian = str(ROOT / ".venv" / "bin" / "granian")
    args = [granian, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    args += ["--log-level", "warning", "bizmitra.wsgi:application"]
    if not (ROOT / ".venv" / "bin" / "granian").exists():
        args = [PYTHON, "-m", "granian", *args[1:]]
    proc = start_process(args, log_name="engine-granian", env=env)
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture
def live_sandbox(live_db, celery_worker, graph_sandbox, live_web, ai_server):
    """The session's Graph sandbox, posting webhooks to ``live_web`` for this test."""
    previous = graph_sandbox.webhook_url
    graph_sandbox.webhook_url = live_web + WEBHOOK_PATH
    yield graph_sandbox
    graph_sandbox.webhook_url = previous


class Customer:
    """One WhatsApp user (a fresh number) writing to a tenant's number through the sandbox."""

    def __init__(self, sandbox, onboarding, *, phone_number_id: str | None = None, name: str = "Asha Rao") -> None:
        self.sandbox = sandbox
        self.schema = onboarding.tenant.schema_name
        self.phone_number_id = phone_number_id or onboarding.phone_number.phone_number_id
        self.wa_id = unique_wa_id()
        self.name = name

    # -- the customer's side --------------------------------------------------------------

    def says(self, text: str, *, wamid: str | None = None) -> str:
        result = self.sandbox.inject_text(self.phone_number_id, self.wa_id, text, profile_name=self.name, wamid=wamid)
        assert result.status_code == 200, result
        return result.wamid

    def taps(self, payload_id: str, title: str, *, context_wamid: str | None = None) -> str:
        result = self.sandbox.inject_button_reply(
            self.phone_number_id, self.wa_id, payload_id, title, context_wamid, profile_name=self.name
        )
        assert result.status_code == 200, result
        return result.wamid

    # -- what came back -------------------------------------------------------------------

    def received(self) -> list[dict[str, Any]]:
        """Every message the business sent to this customer, as the Graph API got it."""
        return [r for r in self.sandbox.sent_messages if r["wa_id"] == self.wa_id]

    def wait_received(self, count: int, *, timeout: float = DECISION_TIMEOUT) -> list[dict[str, Any]]:
        return wait_for(
            lambda: (lambda got: got if len(got) >= count else None)(self.received()),
            timeout=timeout,
            what=f"{count} message(s) to {self.wa_id}",
        )

    def decision(self, wamid: str, *, timeout: float = DECISION_TIMEOUT) -> EngineDecision:
        """The engine's finished decision on the inbound message ``wamid`` (waits for it)."""

        def finished():
            with schema_context(self.schema):
                return (
                    EngineDecision.objects.select_related("conversation")
                    .filter(message__wamid=wamid, finished_at__isnull=False)
                    .first()
                )

        return wait_for(finished, timeout=timeout, what=f"the engine's decision on {wamid}")

    def answer(self, wamid: str, *, timeout: float = DECISION_TIMEOUT) -> tuple[EngineDecision, list[dict]]:
        """The decision on ``wamid`` and the messages it sent, once they reached the sandbox."""
        decision = self.decision(wamid, timeout=timeout)
        ids = set(decision.reply_message_ids)

        def arrived():
            with schema_context(self.schema):
                wamids = set(Message.objects.filter(pk__in=ids, wamid__isnull=False).values_list("wamid", flat=True))
            if len(wamids) < len(ids):
                return None
            got = [r for r in self.received() if r["wamid"] in wamids]
            return got if len(got) == len(ids) else None

        sent = wait_for(arrived, timeout=timeout, what=f"the answer to {wamid} at the sandbox") if ids else []
        return decision, sent

    def contact(self) -> Contact:
        with schema_context(self.schema):
            return Contact.objects.get(wa_id=self.wa_id)

    def conversation(self) -> Conversation:
        with schema_context(self.schema):
            return Conversation.objects.select_related("contact").get(contact__wa_id=self.wa_id)

    def outbound(self) -> list[Message]:
        with schema_context(self.schema):
            return list(
                Message.objects.filter(conversation__contact__wa_id=self.wa_id, direction=Direction.OUTBOUND).order_by(
                    "id"
                )
            )


def body_of(record: dict[str, Any]) -> str:
    """The text a customer reads in a sent message (text, interactive body, template name)."""
    payload = record["payload"]
    kind = payload.get("type")
    if kind == "text":
        return payload["text"]["body"]
    if kind == "interactive":
        return payload["interactive"]["body"]["text"]
    if kind == "template":
        return payload["template"]["name"]
    return ""


def button_ids(record: dict[str, Any]) -> dict[str, str]:
    """Title -> payload id of the reply buttons in a sent interactive message."""
    buttons = record["payload"]["interactive"]["action"]["buttons"]
    return {b["reply"]["title"]: b["reply"]["id"] for b in buttons}


class Flows:
    """Templates and rules a test creates in a tenant, removed when the test ends."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.templates: list[int] = []
        self.rules: list[int] = []
        self.fallback_before: int | None | bool = False

    def text(self, body: str, **fields) -> MessageTemplate:
        with schema_context(self.schema):
            template = MessageTemplate.objects.create(
                name=fields.pop("name", body[:90]), kind=TemplateKind.TEXT, body=body, **fields
            )
        self.templates.append(template.pk)
        return template

    def buttons(self, body: str, titles: list[str]) -> MessageTemplate:
        with schema_context(self.schema):
            template = MessageTemplate.objects.create(name=body[:90], kind=TemplateKind.INTERACTIVE_BUTTON, body=body)
            for position, title in enumerate(titles):
                TemplateButton.objects.create(template=template, position=position, title=title)
        self.templates.append(template.pk)
        return template

    def wire(self, template: MessageTemplate, title: str, *, to: MessageTemplate | None = None, state: str = ""):
        with schema_context(self.schema):
            button = TemplateButton.objects.get(template=template, title=title)
            button.next_template = to
            button.next_state = state
            button.save(update_fields=["next_template", "next_state"])
        return button

    def rule(
        self,
        pattern: str,
        template: MessageTemplate | None = None,
        *,
        match_type: str = MatchType.CONTAINS,
        action: str = FlowAction.SEND_TEMPLATE,
        **fields,
    ) -> FlowRule:
        fields.setdefault("name", f"test {match_type} {pattern}"[:100])
        fields.setdefault("priority", 50)
        with schema_context(self.schema):
            rule = FlowRule.objects.create(
                pattern=pattern, template=template, match_type=match_type, action=action, **fields
            )
        self.rules.append(rule.pk)
        return rule

    def fallback(self, template: MessageTemplate | None) -> None:
        with schema_context(self.schema):
            settings, _ = FlowSettings.objects.get_or_create(pk=FlowSettings.SINGLETON_PK)
            if self.fallback_before is False:
                self.fallback_before = settings.fallback_template_id
            settings.fallback_template = template
            settings.save(update_fields=["fallback_template"])

    def cleanup(self) -> None:
        with schema_context(self.schema):
            if self.fallback_before is not False:
                FlowSettings.objects.filter(pk=FlowSettings.SINGLETON_PK).update(fallback_template=self.fallback_before)
            FlowRule.objects.filter(pk__in=self.rules).delete()
            TemplateButton.objects.filter(template_id__in=self.templates).update(next_template=None)
            MessageTemplate.objects.filter(pk__in=self.templates).delete()
            config_changed()


def default_bot(schema: str) -> Bot:
    """The tenant's default bot (created as the engine would)."""
    from conversations.engine.bots import bot_for_phone_number

    with schema_context(schema):
        bot = Bot.objects.filter(is_default=True).first()
        return bot or bot_for_phone_number("none")


def bot_reset(schema: str) -> None:
    """Put the tenant's bots back the way a fresh tenant has them: one default bot, all on."""
    from conversations.models import BotSchedule, HandoffSettings, WorkingHours

    with schema_context(schema):
        Bot.objects.filter(is_default=False).delete()
        BotSchedule.objects.all().delete()
        WorkingHours.objects.all().delete()
        HandoffSettings.objects.all().delete()
        Bot.objects.filter(is_default=True).update(
            is_enabled=True,
            auto_response=True,
            ai_enabled=True,
            lead_capture=True,
            working_hours_enabled=False,
            timezone="",
            system_prompt="",
        )
        config_changed()
