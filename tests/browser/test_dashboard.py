"""The owner dashboard in Chromium against the real stack (granian, daphne, worker, sandbox).

Located by role and visible text, as a person would; every wait is for a condition on the
page or at the sandbox, never a sleep.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from conversations.choices import Direction
from conversations.models import Contact, Conversation, EngineDecision, Message
from tests.support import wait_for
from tests.tenancy import ALPHA, PASSWORDS

pytestmark = [pytest.mark.worker]

XSS = "<img src=x onerror=alert(1)>"
LIVE = 15_000  # ms: upper bound for a live update to show up (a bound, not a measurement)
ENGINE = 30.0  # s: the worker runs the engine (AI call, fallback) before answering


def wa_id() -> str:
    return "1778" + str(uuid.uuid4().int)[:9]


def login(page: Page, stack, email=ALPHA["owner_email"], password=None, host="alpha.test") -> None:
    page.goto(stack.url(host, "/login/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password or PASSWORDS[email])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()


def wait_live(page: Page) -> None:
    """The inbox's websocket is open (it sets data-live on connect)."""
    expect(page.locator("#inbox[data-live=connected], #simulator[data-live=connected]")).to_have_count(1, timeout=LIVE)


def says(stack, sender: str, text: str, name: str = "Asha Rao") -> str:
    result = stack.sandbox.inject_text(ALPHA["phone_number_id"], sender, text, profile_name=name)
    assert result.status_code == 200, result
    return result.wamid


def decision(wamid: str) -> EngineDecision:
    def finished():
        with schema_context("alpha"):
            return EngineDecision.objects.filter(message__wamid=wamid, finished_at__isnull=False).first()

    return wait_for(finished, timeout=ENGINE, what=f"the engine's decision on {wamid}")


def conversation_of(sender: str) -> Conversation:
    with schema_context("alpha"):
        return wait_for(
            lambda: Conversation.objects.filter(contact__wa_id=sender).first(), timeout=ENGINE, what="the conversation"
        )


@pytest.fixture
def dialogs(page: Page):
    """Every JavaScript dialog the page opened (an XSS payload would open one)."""
    opened: list[str] = []
    page.on("dialog", lambda d: (opened.append(d.message), d.dismiss()))
    return opened


def test_login_page_and_empty_states(page: Page, stack, shoot):
    page.goto(stack.url("alpha.test", "/"))
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "login")
    page.get_by_label("Email").fill(ALPHA["owner_email"])
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    login(page, stack)
    for section in ("Inbox", "Leads", "Analytics", "Settings", "Simulator", "Admin"):
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name=section)).to_be_visible()


def test_inbound_appears_live_and_reply_ticks_sent_delivered_read(page: Page, stack, shoot, dialogs):
    login(page, stack)
    wait_live(page)
    sender = wa_id()
    first = says(stack, sender, "Do you have appointments on Saturday?", name="Priya Sharma")
    row = page.locator("li.row", has_text="Priya Sharma")
    expect(row).to_be_visible(timeout=LIVE)
    decision(first)  # the bot has answered; nothing else will write to this conversation
    # The row shows the latest message: the bot's answer (it goes out within milliseconds).
    expect(row).to_contain_text("Thanks for your message")

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Priya Sharma", level=2)).to_be_visible()
    expect(page.locator("#thread")).to_contain_text("Do you have appointments on Saturday?")
    shoot(page, "inbox-desktop-conversation")

    # Statuses by hand from here, one at a time, so each tick state can be seen.
    stack.sandbox.auto_statuses = ()
    before = len(stack.sandbox.sent_messages)
    composer = page.get_by_label("Message to the customer")
    composer.fill("Yes, we open at 10. Shall I book you in?")
    composer.press("Enter")
    record = wait_for(
        lambda: next(
            (
                r
                for r in stack.sandbox.sent_messages[before:]
                if r["wa_id"] == sender and r["payload"]["type"] == "text"
            ),
            None,
        ),
        timeout=ENGINE,
        what="the reply at the sandbox",
    )
    assert record["payload"]["text"]["body"] == "Yes, we open at 10. Shall I book you in?"
    bubble = page.locator("article.msg--out", has_text="Shall I book you in?")
    expect(bubble.locator(".tick")).to_have_attribute("data-status", "sent", timeout=LIVE)
    stack.sandbox.inject_status(ALPHA["phone_number_id"], record["wamid"], "delivered", sender)
    expect(bubble.locator(".tick")).to_have_attribute("data-status", "delivered", timeout=LIVE)
    stack.sandbox.inject_status(ALPHA["phone_number_id"], record["wamid"], "read", sender)
    expect(bubble.locator(".tick")).to_have_attribute("data-status", "read", timeout=LIVE)
    expect(bubble.locator(".tick--read")).to_be_visible()
    # The reply is by the signed-in person, and it took the conversation over.
    expect(bubble).to_contain_text("owner@alpha.test")
    expect(page.get_by_role("button", name="Return to bot")).to_be_visible()
    with schema_context("alpha"):
        assert (
            Message.objects.filter(
                conversation__contact__wa_id=sender, direction=Direction.OUTBOUND, sent_by__isnull=False
            ).count()
            == 1
        )
    assert dialogs == []


def test_double_submit_sends_once(page: Page, stack):
    sender = wa_id()
    says(stack, sender, "One question", name="Double Click")
    conversation = conversation_of(sender)
    login(page, stack)
    page.goto(stack.url("alpha.test", f"/c/{conversation.pk}/"))
    composer = page.get_by_label("Message to the customer")
    composer.fill("Only once please")
    send = page.get_by_role("button", name="Send", exact=True)
    send.dblclick()
    expect(page.locator("article.msg--out", has_text="Only once please")).to_have_count(1, timeout=LIVE)
    with schema_context("alpha"):
        wait_for(
            lambda: Message.objects.filter(conversation=conversation, body="Only once please").exists(),
            timeout=ENGINE,
            what="the reply row",
        )
        assert Message.objects.filter(conversation=conversation, body="Only once please").count() == 1


def test_outside_window_template_picker_sends(page: Page, stack, shoot):
    from templates.choices import TemplateKind
    from templates.models import MessageTemplate

    name = "visit_reminder_" + uuid.uuid4().hex[:6]
    components = [{"type": "BODY", "text": "Hi {{1}}, your visit is on {{2}}."}]
    stack.sandbox.add_message_template(ALPHA["waba_id"], name, language="en", components=components)
    sender = wa_id()
    with schema_context("alpha"):
        template = MessageTemplate.objects.create(
            name=f"Visit reminder {name[-6:]}",
            kind=TemplateKind.META_TEMPLATE,
            meta_name=name,
            meta_language="en",
            meta_status="APPROVED",
            body="Hi {{1}}, your visit is on {{2}}.",
            meta_components=components,
        )
        old = timezone.now() - timedelta(hours=30)
        contact = Contact.objects.create(wa_id=sender, profile_name="Old Customer", last_inbound_at=old)
        conversation = Conversation.objects.create(
            contact=contact, phone_number_id=ALPHA["phone_number_id"], last_message_at=old
        )
        Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type="text",
            body="Thanks, see you",
            wamid=f"wamid.{uuid.uuid4().hex}",
            status="received",
            timestamp=old,
        )
    try:
        login(page, stack)
        page.goto(stack.url("alpha.test", f"/c/{conversation.pk}/"))
        expect(page.get_by_text("The 24-hour window is closed.")).to_be_visible()
        page.get_by_label("Template", exact=True).select_option(template.key)
        page.get_by_label("Variable {{1}}").fill("Old Customer")
        # A missing variable is refused inline, nothing is sent.
        page.get_by_label("Variable {{2}}").fill("")
        page.get_by_label("Variable {{2}}").evaluate("el => el.removeAttribute('required')")
        page.get_by_role("button", name="Send template").click()
        expect(page.locator(".composer__error")).to_contain_text("{{2}}")
        # The refused form keeps the template and what was typed.
        expect(page.get_by_label("Variable {{1}}")).to_have_value("Old Customer")
        # The refused form was swapped in by htmx: type only once htmx has settled it (its
        # input trigger is attached then), as a person typing after seeing it would.
        page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
        page.get_by_label("Variable {{2}}").fill("Friday 5 pm")
        expect(page.locator(".picker__preview")).to_contain_text("your visit is on Friday 5 pm", timeout=LIVE)
        shoot(page, "template-picker")
        before = len(stack.sandbox.sent_messages)
        page.get_by_role("button", name="Send template").click()
        record = wait_for(
            lambda: next((r for r in stack.sandbox.sent_messages[before:] if r["wa_id"] == sender), None),
            timeout=ENGINE,
            what="the template at the sandbox",
        )
        assert record["payload"]["template"]["name"] == name
        texts = [p["text"] for c in record["payload"]["template"]["components"] for p in c["parameters"]]
        assert texts == ["Old Customer", "Friday 5 pm"]
        expect(page.locator("article.msg--template")).to_contain_text("your visit is on Friday 5 pm", timeout=LIVE)
    finally:
        with schema_context("alpha"):
            MessageTemplate.objects.filter(pk=template.pk).delete()


def test_take_over_silences_the_bot_and_return_restores_it(page: Page, stack):
    sender = wa_id()
    first = says(stack, sender, "hello there", name="Handoff Test")
    decision(first)
    conversation = conversation_of(sender)
    login(page, stack)
    page.goto(stack.url("alpha.test", f"/c/{conversation.pk}/"))
    page.get_by_role("button", name="Take over").click()
    expect(page.get_by_role("button", name="Return to bot")).to_be_visible()
    expect(page.locator("#thread")).to_contain_text("took over")
    quiet = says(stack, sender, "are you there?", name="Handoff Test")
    assert decision(quiet).path == EngineDecision.Path.SILENT_HANDOFF
    expect(page.locator("#thread")).to_contain_text("are you there?", timeout=LIVE)
    page.get_by_role("button", name="Return to bot").click()
    expect(page.get_by_role("button", name="Take over")).to_be_visible()
    expect(page.locator("#thread")).to_contain_text("returned it to the bot")
    back = says(stack, sender, "hello again", name="Handoff Test")
    answered = decision(back)
    assert answered.path != EngineDecision.Path.SILENT_HANDOFF and answered.reply_message_ids


def test_simulator_round_trip(page: Page, stack, shoot):
    login(page, stack)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Simulator").click()
    expect(page.get_by_role("heading", name="Phone simulator")).to_be_visible()
    wait_live(page)
    shoot(page, "simulator-empty")
    page.get_by_label("Message as the customer").fill("Hi")
    page.get_by_role("button", name="Send", exact=True).click()
    screen = page.locator("#phone-screen")
    expect(screen.locator(".wa--me")).to_contain_text("Hi", timeout=LIVE)
    expect(screen.locator(".wa--biz").first).to_be_visible(timeout=ENGINE * 1000)
    shoot(page, "simulator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    row = page.locator("li.row", has_text="(simulator)").first
    row.get_by_role("link").click()
    expect(page.locator("#thread .msg--in").last).to_contain_text("Hi")


def test_agent_cannot_open_owner_pages(page: Page, stack):
    from tenants.services import owner_create

    email = f"agent-{uuid.uuid4().hex[:6]}@alpha.test"
    with schema_context("alpha"):
        owner_create(email=email, password="agent-password", is_owner=False)
        from django.contrib.auth import get_user_model

        boss = get_user_model().objects.get(email=ALPHA["owner_email"])
        contact = Contact.objects.create(wa_id=wa_id(), profile_name="Owner Only", last_inbound_at=timezone.now())
        owner = Conversation.objects.create(
            contact=contact,
            phone_number_id=ALPHA["phone_number_id"],
            assigned_agent=boss,
            last_message_at=timezone.now(),
        )
    login(page, stack, email=email, password="agent-password")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Inbox")).to_be_visible()
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    expect(page.locator("li.row", has_text="Owner Only")).to_have_count(0)
    assert page.goto(stack.url("alpha.test", "/soon/settings/")).status == 403
    assert page.goto(stack.url("alpha.test", f"/c/{owner.pk}/")).status == 404
    admin = page.goto(stack.url("alpha.test", "/admin/"))
    assert admin.status == 200
    expect(page.get_by_text("Message templates")).to_have_count(0)


def test_hostile_contact_name_is_text_everywhere(page: Page, stack, dialogs, shoot):
    login(page, stack)
    wait_live(page)
    sender = wa_id()
    says(stack, sender, f"hi {XSS}", name=XSS)
    row = page.locator("li.row", has_text=XSS)
    expect(row).to_be_visible(timeout=LIVE)
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name=XSS, level=2)).to_be_visible()
    expect(page.locator("#thread")).to_contain_text(f"hi {XSS}")
    expect(page.locator("#panel")).to_contain_text(XSS)
    assert page.locator("img[src=x]").count() == 0
    page.reload()
    expect(page.get_by_role("heading", name=XSS, level=2)).to_be_visible()
    assert page.locator("img[src=x]").count() == 0
    shoot(page, "conversation")
    page.goto(stack.url("alpha.test", "/"))
    expect(page.locator("li.row", has_text=XSS)).to_be_visible()
    shoot(page, "inbox")
    assert dialogs == []


def test_live_catch_up_after_a_dropped_socket(page: Page, stack):
    login(page, stack)
    wait_live(page)
    # Drop the socket and keep it down while a message arrives: the page must catch up.
    page.evaluate(
        "() => { window.__blockWs = true; const W = window.WebSocket;"
        " window.WebSocket = function (u) { if (window.__blockWs) throw new Error('offline'); return new W(u); };"
        " window.WebSocket.OPEN = W.OPEN; bzm.live.drop(); }"
    )
    expect(page.locator("#inbox[data-live=disconnected]")).to_have_count(1, timeout=LIVE)
    sender = wa_id()
    says(stack, sender, "sent while you were offline", name="Missed Message")
    conversation_of(sender)
    page.evaluate("() => { window.__blockWs = false; }")
    wait_live(page)
    expect(page.locator("li.row", has_text="Missed Message")).to_be_visible(timeout=LIVE)
