"""A bot has its own flows: two WhatsApp numbers of one business, served by two bots, answer
the same keyword each with its own bot's template (end to end: sandbox → webhook → worker →
engine → sandbox)."""

import uuid

import pytest
from django_tenants.utils import schema_context

from conversations.engine.bots import bot_phone_number_assign
from conversations.models import Bot
from conversations.tests.engine_support import Customer, Flows, body_of, bot_reset, default_bot, token
from tenants.models import PhoneNumber
from tests.tenancy import ALPHA


@pytest.fixture
def flows(alpha, live_db):
    flows = Flows(alpha.tenant.schema_name)
    yield flows
    flows.cleanup()


@pytest.fixture
def bot(alpha, live_db):
    """Alpha's default bot; other bots (and, with them, their rules) are removed afterwards."""
    yield default_bot(alpha.tenant.schema_name)
    bot_reset(alpha.tenant.schema_name)


@pytest.fixture
def second_number(live_sandbox, alpha):
    """A second WhatsApp number of alpha, known to the sandbox."""
    number_id = "1065" + str(uuid.uuid4().int)[:11]
    PhoneNumber.objects.create(
        tenant=alpha.tenant, phone_number_id=number_id, access_token=ALPHA["access_token"], waba_id=ALPHA["waba_id"]
    )
    live_sandbox.register_number(
        number_id, ALPHA["access_token"], waba_id=ALPHA["waba_id"], display_phone_number="1556"
    )
    yield number_id
    PhoneNumber.objects.filter(phone_number_id=number_id).delete()


@pytest.mark.worker
def test_the_same_keyword_is_answered_by_each_bots_own_template(live_sandbox, alpha, bot, flows, second_number):
    word, shared = token(), token()
    schema = alpha.tenant.schema_name
    with schema_context(schema):
        night = Bot.objects.create(name="Night desk")
        bot_phone_number_assign(bot=night, phone_number_id=second_number)
    # Same keyword, same priority: each bot's own rule wins over the tenant-wide one.
    flows.rule(word, flows.text(f"Everyone's answer ({word})"), priority=50)
    flows.rule(word, flows.text(f"Day team here ({word})"), priority=50, bot_id=bot.pk)
    flows.rule(word, flows.text(f"Night desk here ({word})"), priority=50, bot_id=night.pk)
    # A tenant-wide rule answers on both numbers.
    flows.rule(shared, flows.text(f"We are open 9 to 5 ({shared})"))
    day_customer = Customer(live_sandbox, alpha)
    night_customer = Customer(live_sandbox, alpha, phone_number_id=second_number)

    day, day_sent = day_customer.answer(day_customer.says(word))
    night_decision, night_sent = night_customer.answer(night_customer.says(word))
    _, day_shared = day_customer.answer(day_customer.says(f"{shared}?"))
    _, night_shared = night_customer.answer(night_customer.says(f"{shared}?"))

    assert [body_of(r) for r in day_sent] == [f"Day team here ({word})"]
    assert [body_of(r) for r in night_sent] == [f"Night desk here ({word})"]
    assert (day.bot_id, night_decision.bot_id) == (bot.pk, night.pk)
    assert [r["phone_number_id"] for r in day_sent + night_sent] == [ALPHA["phone_number_id"], second_number]
    assert [body_of(r) for r in day_shared + night_shared] == [f"We are open 9 to 5 ({shared})"] * 2
