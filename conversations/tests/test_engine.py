"""The conversation engine end to end: signed webhooks from the Graph live_sandbox into our live
server, the real worker, and the reply recorded by the live_sandbox. Rules, flows and menus,
opt-out/opt-in, replays; the AI path is in test_engine_ai.py."""

import pytest
from django_tenants.utils import schema_context

from bizmitra.config_cache import config_changed
from conversations.engine.services import DEFAULT_FALLBACK_TEXT, engine_handle_message
from conversations.models import EngineDecision, Message
from conversations.tests.engine_support import (
    Customer,
    Flows,
    body_of,
    bot_reset,
    button_ids,
    default_bot,
    token,
)
from conversations.whatsapp.models import WebhookDelivery
from conversations.whatsapp.sandbox import wire
from templates.choices import FlowAction, MatchType
from tests.support import wait_for

pytestmark = pytest.mark.worker

Path = EngineDecision.Path


@pytest.fixture
def flows(alpha, live_db):
    flows = Flows(alpha.tenant.schema_name)
    yield flows
    flows.cleanup()


@pytest.fixture
def ai_off(alpha, live_db):
    """Alpha's default bot without AI: what no rule answers gets the fallback, deterministically."""
    schema = alpha.tenant.schema_name
    bot = default_bot(schema)
    with schema_context(schema):
        type(bot).objects.filter(pk=bot.pk).update(ai_enabled=False)
        config_changed()  # QuerySet.update sends no signal; the engine's bot snapshot must follow
    yield bot
    bot_reset(schema)


@pytest.mark.parametrize(
    ("match_type", "pattern", "says"),
    [
        (MatchType.EQUALS, "{t}", "{T}!"),
        (MatchType.CONTAINS, "foo{t}, {t}", "do you sell {t} today"),
        (MatchType.STARTS_WITH, "{t}", "{t} please, two of them"),
        (MatchType.REGEX, r"^order\s+#?{t}-\d+$", "Order #{t}-42"),
    ],
)
def test_each_text_rule_type_answers_with_its_template_and_no_ai_call(
    live_sandbox, alpha, flows, ai_server, match_type, pattern, says
):
    word = token()
    answer = flows.text(f"Answer to {word}, {{{{first_name}}}}")
    rule = flows.rule(pattern.format(t=word), answer, match_type=match_type)
    customer = Customer(live_sandbox, alpha)
    ai_requests = len(ai_server.requests)

    wamid = customer.says(says.format(t=word, T=word.upper()))
    decision, sent = customer.answer(wamid)

    assert decision.path == Path.RULE
    assert decision.rule_id == rule.pk
    assert decision.template_key == answer.key
    assert [body_of(r) for r in sent] == [f"Answer to {word}, Asha"]
    assert sent[0]["payload"]["to"] == f"+{customer.wa_id}"
    assert len(ai_server.requests) == ai_requests
    (reply,) = customer.outbound()
    assert reply.idempotency_key == f"reply:{wamid}"


def test_a_payload_rule_answers_a_button_tap(live_sandbox, alpha, flows):
    word = token()
    menu = flows.buttons(f"Menu {word}", ["Prices", "Hours"])
    flows.rule(word, menu)
    hours = flows.text(f"We open at nine ({word})")
    with schema_context(alpha.tenant.schema_name):
        payload_id = menu.buttons.get(title="Hours").payload_id
    flows.rule(payload_id, hours, match_type=MatchType.PAYLOAD)
    customer = Customer(live_sandbox, alpha)

    decision, (menu_sent,) = customer.answer(customer.says(word))
    assert decision.path == Path.RULE
    assert button_ids(menu_sent)["Hours"] == payload_id

    decision, (hours_sent,) = customer.answer(customer.taps(payload_id, "Hours"))
    assert decision.path == Path.RULE
    assert body_of(hours_sent) == f"We open at nine ({word})"


def test_a_three_level_menu_follows_the_wired_buttons_and_old_menus_still_work(live_sandbox, alpha, flows):
    word = token()
    level1 = flows.buttons(f"Level one {word}", ["Services", "Talk later"])
    level2 = flows.buttons(f"Level two {word}", ["Cleaning", "Whitening"])
    level3 = flows.text(f"Cleaning costs 40 ({word})")
    flows.wire(level1, "Services", to=level2)
    flows.wire(level2, "Cleaning", to=level3, state="chose_cleaning")
    flows.rule(word, level1)
    customer = Customer(live_sandbox, alpha)

    _, (first,) = customer.answer(customer.says(f"show me the {word}"))
    assert body_of(first) == f"Level one {word}"
    services = button_ids(first)["Services"]

    decision, (second,) = customer.answer(customer.taps(services, "Services"))
    assert decision.path == Path.FLOW
    assert decision.template_key == level2.key
    assert body_of(second) == f"Level two {word}"

    decision, (third,) = customer.answer(customer.taps(button_ids(second)["Cleaning"], "Cleaning"))
    assert decision.path == Path.FLOW
    assert body_of(third) == f"Cleaning costs 40 ({word})"
    with schema_context(alpha.tenant.schema_name):
        state = customer.contact().flow_state
        assert (state.state, state.last_template_id) == ("chose_cleaning", level3.pk)

    # A tap on the first menu, three messages back: its button ids are unique and still known.
    decision, (again,) = customer.answer(customer.taps(services, "Services", context_wamid=first["wamid"]))
    assert decision.path == Path.FLOW
    assert body_of(again) == f"Level two {word}"


def test_a_tap_on_a_menu_that_no_longer_exists_gets_the_fallback(live_sandbox, alpha, flows, ai_off):
    word = token()
    flows.fallback(flows.text(f"Sorry, we did not get that ({word})"))
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.taps("btn_gone0000", f"Deleted {word}", context_wamid="wamid.old"))

    assert decision.path == Path.FALLBACK
    assert [body_of(r) for r in sent] == [f"Sorry, we did not get that ({word})"]


def test_without_a_fallback_template_the_customer_still_gets_an_answer(live_sandbox, alpha, flows, ai_off):
    flows.fallback(None)
    customer = Customer(live_sandbox, alpha)

    decision, sent = customer.answer(customer.says(f"something no rule knows {token()}"))

    assert decision.path == Path.FALLBACK
    assert [body_of(r) for r in sent] == [DEFAULT_FALLBACK_TEXT]


def test_opt_out_silences_everything_until_start(live_sandbox, alpha, flows):
    word = token()
    flows.rule(word, flows.text(f"Offer of the day ({word})"))
    customer = Customer(live_sandbox, alpha)

    decision, (confirmation,) = customer.answer(customer.says("STOP"))
    assert decision.path == Path.BUILTIN
    assert "unsubscribed" in body_of(confirmation)
    assert customer.contact().opted_out_at is not None

    decision, sent = customer.answer(customer.says(word))
    assert (decision.path, sent) == (Path.OPTED_OUT, [])

    decision, (welcome,) = customer.answer(customer.says("start"))
    assert decision.path == Path.BUILTIN
    assert "Welcome back" in body_of(welcome)
    assert customer.contact().opted_out_at is None

    decision, (offer,) = customer.answer(customer.says(word))
    assert body_of(offer) == f"Offer of the day ({word})"
    assert len(customer.received()) == 3


def delivery_watermark() -> int:
    """The id of the newest stored webhook delivery (0 when none): later ones are above it."""
    return WebhookDelivery.objects.order_by("-id").values_list("id", flat=True).first() or 0


def wait_deliveries_processed(above: int) -> None:
    """Wait until every webhook delivery stored after ``above`` was ingested."""
    wait_for(
        lambda: (
            not WebhookDelivery.objects.filter(id__gt=above).exclude(state=WebhookDelivery.State.PROCESSED).exists()
        ),
        timeout=30,
        what=f"webhook deliveries above {above} to be processed",
    )


def inbound_batch(sandbox, customer: Customer, messages: list[tuple[str, str]]) -> dict:
    """One Meta envelope carrying the text ``messages`` ((wamid, text), repeats allowed)."""
    number = sandbox.state.number(customer.phone_number_id)
    return wire.envelope(
        waba_id=number.waba_id,
        phone_number_id=customer.phone_number_id,
        display_phone_number=number.display_phone_number,
        value={
            "contacts": [{"profile": {"name": customer.name}, "wa_id": customer.wa_id}],
            "messages": [
                {
                    "from": customer.wa_id,
                    "id": wamid,
                    "timestamp": wire.timestamp(),
                    "type": "text",
                    "text": {"body": text},
                }
                for wamid, text in messages
            ],
        },
    )


def test_a_duplicate_inside_one_batch_and_across_batches_gets_one_reply(live_sandbox, alpha, flows):
    word = token()
    flows.rule(word, flows.text(f"Just one ({word})"))
    customer = Customer(live_sandbox, alpha)
    wamid = wire.new_wamid(customer.wa_id, inbound=True)
    later = wire.new_wamid(customer.wa_id, inbound=True)
    watermark = delivery_watermark()

    # The same message twice in one envelope, then again beside a new one.
    assert live_sandbox.inject_raw(inbound_batch(live_sandbox, customer, [(wamid, word)] * 2)).status_code == 200
    customer.answer(wamid)
    batch = inbound_batch(live_sandbox, customer, [(wamid, word), (later, f"{word} more")])
    assert live_sandbox.inject_raw(batch).status_code == 200
    customer.answer(later)
    wait_deliveries_processed(watermark)

    with schema_context(alpha.tenant.schema_name):
        assert Message.objects.filter(wamid=wamid).count() == 1
        [reply] = Message.objects.filter(idempotency_key=f"reply:{wamid}")
    assert [m.idempotency_key for m in customer.outbound()] == [f"reply:{wamid}", f"reply:{later}"]
    sends = [r for r in customer.received() if r["payload"].get("biz_opaque_callback_data") == f"bzm:{reply.pk}"]
    assert len(sends) == 1 and sends[0]["wamid"] == reply.wamid
    assert len(customer.received()) == 2


def test_a_replayed_inbound_gets_one_reply(live_sandbox, alpha, flows):
    word = token()
    flows.rule(word, flows.text(f"Only once ({word})"))
    customer = Customer(live_sandbox, alpha)
    wamid = customer.says(word)
    decision, sent = customer.answer(wamid)
    assert len(sent) == 1

    # Meta redelivers the same message; then the engine task itself runs again.
    watermark = delivery_watermark()
    assert customer.says(word, wamid=wamid) == wamid
    wait_deliveries_processed(watermark)
    with schema_context(alpha.tenant.schema_name):
        message = Message.objects.get(wamid=wamid)
        again = engine_handle_message(message_id=message.pk)
    assert again.pk == decision.pk

    later = customer.says(f"{word} again")  # a later message is answered: the worker is not stuck
    customer.answer(later)
    assert [body_of(r) for r in customer.received()] == [f"Only once ({word})"] * 2
    assert [m.idempotency_key for m in customer.outbound()] == [f"reply:{wamid}", f"reply:{later}"]


def test_a_set_state_rule_gates_the_next_rule(live_sandbox, alpha, flows):
    word = token()
    ask = flows.text(f"Which day suits you? ({word})")
    flows.rule(word, ask, action=FlowAction.SET_STATE, next_state=f"asked_{word}"[:60])
    flows.rule("monday, tuesday", flows.text(f"Booked ({word})"), required_state=f"asked_{word}"[:60])
    customer = Customer(live_sandbox, alpha)

    decision, (question,) = customer.answer(customer.says(f"book {word}"))
    assert body_of(question) == f"Which day suits you? ({word})"
    decision, (booked,) = customer.answer(customer.says("Monday"))
    assert decision.path == Path.RULE
    assert body_of(booked) == f"Booked ({word})"


def test_an_answer_in_a_lead_state_is_saved_on_the_lead(live_sandbox, alpha, flows):
    from leads.selectors import lead_for_contact

    word = token()
    question = flows.text(f"What is your email? ({word})")
    offer = flows.buttons(f"Want a quote? ({word})", ["Yes please"])
    flows.wire(offer, "Yes please", to=question, state="lead:email")
    flows.rule(word, offer)
    flows.rule(
        r"@",
        flows.text(f"Thanks, we will write to you ({word})"),
        match_type=MatchType.REGEX,
        required_state="lead:email",
        next_state="quote_requested",
    )
    customer = Customer(live_sandbox, alpha)

    _, (sent_offer,) = customer.answer(customer.says(f"quote for {word}"))
    _, (sent_question,) = customer.answer(customer.taps(button_ids(sent_offer)["Yes please"], "Yes please"))
    assert body_of(sent_question) == f"What is your email? ({word})"
    decision, (thanks,) = customer.answer(customer.says("Asha@Example.com"))

    assert body_of(thanks) == f"Thanks, we will write to you ({word})"
    assert "lead email saved" in decision.reason
    with schema_context(alpha.tenant.schema_name):
        assert lead_for_contact(contact_id=customer.contact().pk).email == "asha@example.com"


def test_a_handoff_rule_without_a_template_sends_the_handoff_message(live_sandbox, alpha, flows):
    word = token()
    flows.rule(word, action=FlowAction.HANDOFF)
    customer = Customer(live_sandbox, alpha)

    decision, (sent,) = customer.answer(customer.says(f"{word} now"))

    assert decision.path == Path.RULE
    assert body_of(sent) == "A member of our team will reply here shortly."
    assert customer.conversation().status == "handed_off"
