"""The leads board and analytics pages in Chromium against the real stack (tests/browser/conftest.py).

Located by role and visible text, as a person would; every wait is for a condition on the page.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from leads.choices import LeadSource, LeadStage
from leads.models import Lead
from leads.services import lead_create
from leads.tests.factories import unique_mobile
from tests.browser.pages import login_owner

pytestmark = [pytest.mark.worker]

XSS = "<img src=x onerror=alert(1)>"


def new_lead(name: str, **fields) -> Lead:
    with schema_context("alpha"):
        return lead_create(
            source=LeadSource.MANUAL, actor="test", fields={"name": name, "phone": unique_mobile(), **fields}
        )


def stage_of(lead: Lead) -> str:
    with schema_context("alpha"):
        return Lead.objects.get(pk=lead.pk).stage


@pytest.fixture
def dialogs(page: Page):
    opened: list[str] = []
    page.on("dialog", lambda d: (opened.append(d.message), d.dismiss()))
    return opened


def column(page: Page, label: str):
    return page.get_by_role("region", name=label, exact=True)


def test_drag_a_lead_to_an_allowed_and_a_refused_stage(page: Page, stack, shoot, dialogs):
    tag = uuid.uuid4().hex[:6]
    mover = new_lead(f"Drag {tag}", product_interest="")
    new_lead(f"{XSS} {tag}", product_interest="Aligners")  # complete: qualified by itself
    login_owner(page, stack, f"/leads/?search={tag}")
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    card = column(page, "New").get_by_role("listitem").filter(has_text=f"Drag {tag}")
    expect(card).to_be_visible()
    expect(column(page, "Qualified").get_by_role("listitem").filter(has_text=tag)).to_have_count(1)
    shoot(page, "leads-board")

    card.drag_to(column(page, "Contacted"))
    expect(page.locator("#toasts")).to_contain_text(f"Drag {tag} moved to Contacted")
    expect(column(page, "Contacted").get_by_role("listitem").filter(has_text=f"Drag {tag}")).to_be_visible()
    expect(column(page, "Contacted").locator(".board__count")).to_have_text("1")
    assert stage_of(mover) == LeadStage.CONTACTED

    moved = column(page, "Contacted").get_by_role("listitem").filter(has_text=f"Drag {tag}")
    moved.drag_to(column(page, "Paid"))
    expect(page.locator("#toasts")).to_contain_text("cannot move to 'paid'")
    expect(page.locator("#toasts")).to_contain_text("Allowed next stages: qualified, lost")
    # Snapped back: still in Contacted, nothing in Paid.
    expect(column(page, "Contacted").get_by_role("listitem").filter(has_text=f"Drag {tag}")).to_be_visible()
    expect(column(page, "Paid").get_by_role("listitem").filter(has_text=tag)).to_have_count(0)
    assert stage_of(mover) == LeadStage.CONTACTED
    assert dialogs == []


def test_move_by_keyboard_menu_and_lost_needs_a_reason(page: Page, stack, shoot):
    tag = uuid.uuid4().hex[:6]
    lead = new_lead(f"Menu {tag}")
    login_owner(page, stack, f"/leads/?search={tag}")
    card = column(page, "New").get_by_role("listitem").filter(has_text=f"Menu {tag}")
    menu = card.get_by_text("Move", exact=True)
    menu.focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Qualified").focus()
    page.keyboard.press("Enter")
    expect(column(page, "Qualified").get_by_role("listitem").filter(has_text=f"Menu {tag}")).to_be_visible()
    assert stage_of(lead) == LeadStage.QUALIFIED

    card = column(page, "Qualified").get_by_role("listitem").filter(has_text=f"Menu {tag}")
    card.get_by_text("Move", exact=True).click()
    card.get_by_role("button", name="Lost").click()
    dialog = page.get_by_role("dialog", name="Why was this lead lost?")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("Chose a competitor")
    shoot(page, "leads-lost-dialog")
    dialog.get_by_role("button", name="Mark lost").click()
    expect(column(page, "Lost").get_by_role("listitem").filter(has_text=f"Menu {tag}")).to_be_visible()
    assert stage_of(lead) == LeadStage.LOST


def test_lead_page_inline_errors_and_save(page: Page, stack, shoot, dialogs):
    tag = uuid.uuid4().hex[:6]
    lead = new_lead(f"{XSS} Page {tag}", notes=XSS)
    login_owner(page, stack, f"/leads/{lead.pk}/")
    expect(page.get_by_role("heading", name=re.compile(f"Page {tag}"))).to_be_visible()
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("is not a valid email address")).to_be_visible()
    shoot(page, "lead-page-error")
    page.get_by_label("Email").fill("asha@example.com")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#toasts")).to_contain_text("Lead saved.")
    with schema_context("alpha"):
        assert Lead.objects.get(pk=lead.pk).email == "asha@example.com"
    shoot(page, "lead-page")
    assert dialogs == []


def _seed_march_2024() -> None:
    """A known, otherwise empty stretch (live rows other tests commit are all recent)."""
    from datetime import UTC, datetime

    from conversations.choices import Direction, MessageStatus
    from conversations.models import AICallLog, Bot, ConversationActivity, EngineDecision, Message
    from leads.tests.factories import make_contact

    with schema_context("alpha"):
        if Message.objects.filter(timestamp__year=2024, timestamp__month=3).exists():
            return
        contact = make_contact(profile_name="Analytics seed")
        bot = Bot.objects.create(name=f"Seed bot {uuid.uuid4().hex[:4]}")
        for day, (inbound, outbound) in enumerate([(3, 2), (0, 0), (5, 4), (1, 1)], start=1):
            for i in range(inbound):
                when = datetime(2024, 3, day, 9, i, tzinfo=UTC)
                message = Message.objects.create(
                    conversation=contact.conversation,
                    direction=Direction.INBOUND,
                    type="text",
                    body="hi",
                    wamid=f"wamid.{uuid.uuid4().hex}",
                    status=MessageStatus.RECEIVED,
                    timestamp=when,
                )
                path = ["builtin", "rule", "ai"][i % 3]
                call = None
                if path == "ai":
                    call = AICallLog.objects.create(
                        inbound_message=message, prompt_tokens=1200 + day, completion_tokens=150, rounds=1, outcome="ok"
                    )
                    AICallLog.objects.filter(pk=call.pk).update(created_at=when)
                decision = EngineDecision.objects.create(
                    message=message,
                    conversation=contact.conversation,
                    bot=bot,
                    path=path,
                    ai_call=call,
                    claimed_at=when,
                    finished_at=when,
                )
                EngineDecision.objects.filter(pk=decision.pk).update(created_at=when)
            for i in range(outbound):
                failed = i == 0 and day == 3
                Message.objects.create(
                    conversation=contact.conversation,
                    direction=Direction.OUTBOUND,
                    type="text",
                    body="ok",
                    wamid=f"wamid.{uuid.uuid4().hex}",
                    status=MessageStatus.FAILED if failed else MessageStatus.READ,
                    # The engine's replies (reply: keys) give the bot's first-response time.
                    idempotency_key=f"reply:seed-{uuid.uuid4().hex}",
                    timestamp=datetime(2024, 3, day, 9 + i, 30, tzinfo=UTC),
                    error_code=131047 if failed else None,
                    error_title=f"{XSS} Re-engagement" if failed else "",
                )
        resolve = ConversationActivity.objects.create(conversation=contact.conversation, kind="resolve")
        ConversationActivity.objects.filter(pk=resolve.pk).update(at=datetime(2024, 3, 3, 12, tzinfo=UTC))
        for name, source in (("Seed A", LeadSource.WEBSITE), ("Seed B", LeadSource.MANUAL)):
            lead = lead_create(source=source, actor="test", fields={"name": name, "phone": unique_mobile()})
            Lead.objects.filter(pk=lead.pk).update(created_at=datetime(2024, 3, 2, 12, tzinfo=UTC))


# The region's top is at the top of its scrolling box (the window or the shell's pane), or as
# high as the end of that box lets it go, and it fits the screen's width.
SCROLLED_TO_TOP = """(el) => {
  let box = el.parentElement;
  while (box && !(box.scrollHeight > box.clientHeight && getComputedStyle(box).overflowY !== "visible")) {
    box = box.parentElement;
  }
  box = box || document.scrollingElement;
  const origin = box === document.scrollingElement ? 0 : box.getBoundingClientRect().top;
  const top = el.getBoundingClientRect().top - origin;
  const room = box.scrollHeight - box.scrollTop - box.clientHeight;
  const { left, right } = el.getBoundingClientRect();
  // Within the screen's width too: nothing (the 24-hour heatmap above all) widens the page.
  const inside = left >= 0 && right <= window.innerWidth + 1;
  // The shell fills the screen and its pane scrolls: the document itself never does.
  const still = document.scrollingElement.scrollHeight <= window.innerHeight + 1;
  return { ok: still && inside && top >= -1 && (top <= 80 || room <= 1), still, left, right, top, room };
}"""


def shoot_at(page: Page, name: str, region) -> None:
    """Like ``shoot`` (390 and 1440 px), with ``region`` scrolled to the top of the viewport at
    each width: a scroll made at one width is elsewhere once the page reflows at the other."""
    from tests.browser.conftest import ARTIFACTS, WIDTHS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for width, height in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_load_state("networkidle")
        region.evaluate("(el) => el.scrollIntoView({block: 'start'})")
        # At the top of the viewport, or as high as the end of the page lets it go.
        where = page.evaluate(SCROLLED_TO_TOP, region.element_handle())
        assert where["ok"], f"{name} at {width} px: not at the top of the screen or too wide: {where}"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=False)
    if original:
        page.set_viewport_size(original)


def test_analytics_charts_match_the_api(page: Page, stack, shoot, dialogs):
    _seed_march_2024()
    query = "?from=2024-03-01&to=2024-03-04"
    login_owner(page, stack, "/analytics/" + query)
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    # Asked from the page (the tenant host resolves inside the browser only), as the signed-in owner.
    api = page.evaluate("(url) => fetch(url).then((r) => r.json())", "/api/analytics/" + query)
    assert (api["totals"]["inbound"], api["totals"]["outbound"]) == (9, 7)
    assert api["totals"]["started"] >= 1 and api["ai"]["calls"] == 2

    page.wait_for_function("() => window.Chart && Chart.getChart('chart-messages')")
    drawn = page.evaluate(
        "(ids) => Object.fromEntries(ids.map((id) => [id, "
        "Chart.getChart('chart-' + id).data.datasets.map((d) => d.data)]))",
        [
            "messages",
            "who_answered",
            "delivery",
            "delivery_errors",
            "lead_funnel",
            "lead_sources",
            "response_times",
            "ai_days",
            "ai_bots",
        ],
    )
    assert drawn["messages"] == [
        [d["inbound"] for d in api["messages"]],
        [d["outbound"] for d in api["messages"]],
        [d["started"] for d in api["messages"]],
    ]
    times = api["response_times"]["rows"]
    assert times[0]["count"] >= 1  # the bot's replies were measured
    for series, key in zip(drawn["response_times"], ("p50_seconds", "p90_seconds"), strict=True):
        for shown, row in zip(series, times, strict=True):
            assert (shown is None) if row[key] is None else abs(shown - row[key] / 60) <= 0.05
    assert drawn["ai_days"] == [
        [d["tokens"] for d in api["ai"]["days"]],
        [api["ai"]["daily_token_budget"]] * len(api["ai"]["days"]),
    ]
    assert drawn["ai_bots"] == [
        [b["prompt_tokens"] for b in api["ai"]["bots"]],
        [b["completion_tokens"] for b in api["ai"]["bots"]],
    ]
    # The heatmap is a table: each weekday's row has the API's 24 counts.
    heat = page.get_by_role("table", name=re.compile("^Busiest hours"))
    for row in api["busiest_hours"]["rows"]:
        cells = heat.get_by_role("row", name=re.compile(f"^{row['weekday']}")).get_by_role("cell")
        expect(cells).to_have_text([str(n) for n in row["hours"]])
    assert drawn["who_answered"] == [[r["count"] for r in api["who_answered"]["rows"]]]
    assert drawn["delivery"] == [[r["count"] for r in api["delivery"]["steps"]]]
    assert drawn["delivery_errors"] == [[1]]
    assert drawn["lead_funnel"][0] == [r["reached"] for r in api["leads"]["stages"]]
    assert drawn["lead_sources"] == [[r["count"] for r in api["leads"]["sources"]]]

    # Per-day numbers drawn as straight segments, and the budget's legend swatch is a line.
    assert page.evaluate("() => Chart.getChart('chart-messages').data.datasets.map((d) => d.tension)") == [0, 0, 0]
    legend = page.evaluate(
        "() => Chart.getChart('chart-ai_days').legend.legendItems.map((i) => [i.text, i.pointStyle])"
    )
    assert legend == [["Tokens", "rect"], ["Daily budget", "line"]]

    shoot(page, "analytics")
    shoot_at(page, "analytics-times-ai", page.get_by_role("region", name="Response and resolution times"))
    shoot_at(page, "analytics-heatmap", page.get_by_role("region", name="Busiest hours"))

    # The accessible table says the same, row by row.
    table = page.get_by_role("table", name="Messages and conversations per day")
    page.get_by_role("region", name="Messages and conversations per day").get_by_text("Table").click()
    for day in api["messages"]:
        row = table.get_by_role("row", name=re.compile(day["day"]))
        expect(row.get_by_role("cell")).to_have_text([str(day["inbound"]), str(day["outbound"]), str(day["started"])])
    bots = page.get_by_role("region", name="AI calls and cost per bot")
    bots.get_by_text("Table").click()
    for bot in api["ai"]["bots"]:
        row = bots.get_by_role("row", name=re.compile(re.escape(bot["name"])))
        expect(row.get_by_role("cell").nth(3)).to_have_text(str(bot["completion_tokens"]))
    errors = page.get_by_role("region", name="Failures by Meta error")
    errors.get_by_text("Table").click()
    expect(errors.get_by_role("table")).to_contain_text(f"{XSS} Re-engagement")
    shoot(page, "analytics-tables")

    page.get_by_role("link", name="7 days").click()
    expect(page.get_by_role("link", name="7 days")).to_have_attribute("aria-current", "true")
    assert dialogs == []


def test_book_an_appointment_and_see_it_on_the_agenda(page: Page, stack, shoot, dialogs):
    from tests.support import wait_for
    from workflows.models import CommunicationWorkflow, WorkflowJob

    tag = uuid.uuid4().hex[:6]
    with schema_context("alpha"):
        # A reminder an hour before: far enough ahead that it stays scheduled during the test.
        rule = CommunicationWorkflow.objects.create(
            name=f"Reminder {tag}",
            trigger="appointment_reminder",
            template_name="appointment_reminder_v1",
            language="en",
            delay_minutes=-60,
        )
    try:
        _book_and_cancel(page, stack, shoot, dialogs, tag, wait_for=wait_for, jobs=WorkflowJob)
    finally:
        with schema_context("alpha"):
            WorkflowJob.objects.filter(workflow=rule).delete()
            rule.delete()


def _book_and_cancel(page: Page, stack, shoot, dialogs, tag: str, *, wait_for, jobs) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from leads.models import Appointment

    lead = new_lead(f"Agenda {tag}")
    day = (timezone.now() + timedelta(days=2)).date()
    login_owner(page, stack, f"/leads/{lead.pk}/")
    booking = page.get_by_role("region", name="Book an appointment")
    booking.get_by_label("Title").fill(f"Fitting {XSS}")
    booking.get_by_label("Date and time").fill(f"{day}T11:15")
    booking.get_by_label("Length").select_option(label="1 hour")
    booking.get_by_role("button", name="Book").click()
    expect(page.get_by_role("heading", name="Appointments")).to_be_visible()
    item = page.get_by_role("listitem").filter(has_text=f"Agenda {tag}")
    expect(item).to_contain_text("11:15")
    expect(item).to_contain_text("12:15")
    expect(item).to_contain_text(f"Fitting {XSS}")
    # The worker plans the reminder from the appointment.booked event; the agenda shows the plan.
    with schema_context("alpha"):
        appointment = Appointment.objects.get(lead_id=lead.pk)
        wait_for(
            lambda: jobs.objects.filter(module_id=f"appointment:{appointment.pk}").exists(),
            timeout=30,
            what="the reminder job",
        )
    page.reload()
    plan = page.get_by_role("listitem").filter(has_text=f"Agenda {tag}").locator(".reminder-plan")
    expect(plan).to_contain_text("Scheduled")
    expect(plan).to_contain_text("Reminder")
    shoot(page, "appointments-day")
    page.get_by_role("link", name="Week").click()
    expect(page.get_by_role("listitem").filter(has_text=f"Agenda {tag}")).to_be_visible()
    shoot(page, "appointments-week")

    item = page.get_by_role("listitem").filter(has_text=f"Agenda {tag}")
    item.get_by_text("Cancel", exact=True).click()
    item.get_by_label("Reason (optional)").fill("Customer asked")
    item.get_by_role("button", name="Cancel appointment").click()
    expect(page.get_by_role("listitem").filter(has_text=f"Agenda {tag}")).to_have_count(0)
    with schema_context("alpha"):
        assert Appointment.objects.get(lead_id=lead.pk).status == "cancelled"
    assert dialogs == []


def test_bulk_move_selected_leads_with_a_reason_for_each_refused_one(page: Page, stack, shoot, dialogs):
    tag = uuid.uuid4().hex[:6]
    first, second = new_lead(f"Bulk one {tag}"), new_lead(f"Bulk two {tag}")
    done = new_lead(f"Bulk paid {tag}")
    with schema_context("alpha"):
        from leads.services import lead_transition

        for to in ("qualified", "converted", "paid"):
            done = lead_transition(lead=done, to=to, actor="test", reason="setup")
    login_owner(page, stack, f"/leads/?search={tag}")
    bar = page.get_by_role("form", name=re.compile("selected"))
    expect(bar).to_be_hidden()
    for name in (f"Bulk one {tag}", f"Bulk two {tag}", f"Bulk paid {tag}"):
        page.get_by_label(f"Select {name}").check()
    expect(bar).to_be_visible()
    expect(page.locator("#bulk-count")).to_have_text("3 leads selected")
    bar.get_by_label("Move to").select_option(label="Contacted")
    shoot(page, "leads-bulk-selected")
    bar.get_by_role("button", name="Move selected").click()
    result = page.locator("#bulk-result")
    expect(result).to_contain_text("2 leads moved to Contacted; 1 refused")
    expect(result.get_by_role("listitem").filter(has_text=f"Bulk paid {tag}")).to_contain_text(
        "cannot move to 'contacted'"
    )
    expect(column(page, "Contacted").get_by_role("listitem").filter(has_text=tag)).to_have_count(2)
    expect(column(page, "Paid").get_by_role("listitem").filter(has_text=tag)).to_have_count(1)
    expect(bar).to_be_hidden()  # the refreshed board has no ticks
    assert {stage_of(first), stage_of(second), stage_of(done)} == {LeadStage.CONTACTED, LeadStage.PAID}
    shoot(page, "leads-bulk-result")
    assert dialogs == []
