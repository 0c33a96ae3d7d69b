"""Flow rules per bot: a rule limited to one bot, tenant-wide rules for all, in flow_match,
the API and the admin (alpha's schema). ``FlowRule.bot_id`` is a plain id (templates sits
below conversations); the bots come through ``templates.hooks``."""

import pytest

from bizmitra.config_cache import config_changed
from bizmitra.errors import ValidationFailed
from conversations.models import Bot
from templates.choices import BuiltinIntent, MatchType
from templates.models import FlowRule
from templates.services import flow_match, flow_rule_update
from templates.tests.factories import builtin_rules_off, button_template, rule, text_template
from tests.tenancy import tenant_client


@pytest.fixture
def bots(in_alpha):
    builtin_rules_off()
    return Bot.objects.create(name="Sales desk"), Bot.objects.create(name="Support desk")


def test_a_rule_of_bot_a_is_not_matched_for_bot_b(bots):
    sales, support = bots
    mine = rule("pricing", text_template(name="Sales prices"), bot_id=sales.pk)

    assert flow_match(text="pricing please", bot=sales).rule == mine
    assert flow_match(text="pricing please", bot=support).rule is None
    # No bot known: only tenant-wide rules take part.
    assert flow_match(text="pricing please").rule is None


def test_tenant_wide_rules_match_for_every_bot(bots):
    sales, support = bots
    everyone = rule("hours", text_template(name="Opening hours"))

    assert flow_match(text="your hours?", bot=sales).rule == everyone
    assert flow_match(text="your hours?", bot=support).rule == everyone
    assert flow_match(text="your hours?").rule == everyone


def test_each_bot_answers_the_same_keyword_with_its_own_template(bots):
    sales, support = bots
    everyone = rule("menu", text_template(name="Tenant menu"), priority=5)
    rule("menu", text_template(name="Sales menu"), priority=5, bot_id=sales.pk)
    rule("menu", text_template(name="Support menu"), priority=5, bot_id=support.pk)
    other = Bot.objects.create(name="Night desk")

    # At equal priority the bot's own rule comes before the tenant-wide one...
    assert flow_match(text="menu", bot=sales).template.name == "Sales menu"
    assert flow_match(text="menu", bot=support).template.name == "Support menu"
    assert flow_match(text="menu", bot=other).rule == everyone
    # ...but priority still decides first.
    FlowRule.objects.filter(pk=everyone.pk).update(priority=1)
    config_changed()  # QuerySet.update sends no signal: say so, as services do
    assert flow_match(text="menu", bot=sales).rule == everyone


def test_payload_rules_are_scoped_to_their_bot_too(bots):
    sales, support = bots
    tap = button_template(titles=("Buy",)).buttons.get()
    mine = rule(tap.payload_id, text_template(name="Checkout"), match_type=MatchType.PAYLOAD, bot_id=sales.pk)

    assert flow_match(text="Buy", payload_id=tap.payload_id, bot=sales).rule == mine
    assert flow_match(text="Buy", payload_id=tap.payload_id, bot=support).rule is None


def test_deleting_a_bot_deletes_its_rules_not_the_tenant_wide_ones(bots):
    sales, _ = bots
    mine = rule("pricing", text_template(name="Sales prices"), bot_id=sales.pk)
    everyone = rule("hours", text_template(name="Opening hours"))

    sales.delete()

    assert not FlowRule.objects.filter(pk=mine.pk).exists()
    assert FlowRule.objects.filter(pk=everyone.pk).exists()


def test_deleting_bots_as_a_queryset_deletes_their_rules_too(bots):
    sales, support = bots
    rule("pricing", text_template(name="Sales prices"), bot_id=sales.pk)
    rule("help", text_template(name="Support help"), bot_id=support.pk)

    Bot.objects.filter(pk__in=[sales.pk, support.pk]).delete()  # what the admin's bulk delete does

    assert not FlowRule.objects.filter(bot_id__in=[sales.pk, support.pk]).exists()


def test_built_in_intents_stay_tenant_wide(bots):
    sales, _ = bots
    stop = FlowRule.objects.get(builtin_intent=BuiltinIntent.OPT_OUT)
    assert stop.bot_id is None

    with pytest.raises(ValidationFailed) as refused:
        flow_rule_update(rule=stop, bot_id=sales.pk)
    assert "bot" in refused.value.fields


class TestApi:
    @pytest.fixture
    def api(self, bots, alpha):
        client = tenant_client(alpha)
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {alpha.api_key.raw_key}"
        return client

    def test_bot_is_an_optional_validated_id(self, api, bots):
        sales, support = bots
        answer = text_template(name="Sales prices")
        url = "/api/flow-rules/"

        wide = api.post(url, {"name": "all", "pattern": "hi", "template": answer.key}, content_type="application/json")
        assert wide.status_code == 201, wide.json()
        assert wide.json()["bot"] is None
        scoped = api.post(
            url, {"name": "sales", "pattern": "price", "template": answer.key, "bot": sales.pk}, "application/json"
        )
        assert scoped.status_code == 201, scoped.json()
        assert scoped.json()["bot"] == sales.pk
        unknown = api.post(
            url, {"name": "x", "pattern": "x", "template": answer.key, "bot": support.pk + 1000}, "application/json"
        )
        assert unknown.status_code in (400, 422) and "bot" in unknown.json()["fields"]

        moved = api.patch(f"{url}{scoped.json()['id']}/", {"bot": support.pk}, content_type="application/json")
        assert (moved.status_code, moved.json()["bot"]) == (200, support.pk)
        cleared = api.patch(f"{url}{scoped.json()['id']}/", {"bot": None}, content_type="application/json")
        assert (cleared.status_code, cleared.json()["bot"]) == (200, None)
        assert FlowRule.objects.get(pk=scoped.json()["id"]).bot_id is None

        api.patch(f"{url}{scoped.json()['id']}/", {"bot": sales.pk}, content_type="application/json")
        listed = api.get(f"{url}?bot={sales.pk}").json()
        assert [r["name"] for r in listed["results"]] == ["sales"]

    def test_a_built_in_intent_cannot_be_given_a_bot(self, api, bots):
        sales, _ = bots
        stop = FlowRule.objects.get(builtin_intent=BuiltinIntent.OPT_OUT)
        response = api.patch(f"/api/flow-rules/{stop.pk}/", {"bot": sales.pk}, content_type="application/json")
        assert response.status_code == 422 and "bot" in response.json()["fields"]


class TestAdmin:
    @pytest.fixture
    def owner(self, bots, alpha):
        return tenant_client(alpha, login=True)

    def test_form_has_a_bot_selector_and_the_list_a_bot_filter(self, owner, bots):
        sales, _ = bots
        answer = text_template(name="Sales prices")
        form = owner.get("/admin/message_templates/flowrule/add/").content.decode()
        assert 'name="bot"' in form and "Every bot" in form and "Sales desk" in form

        response = owner.post(
            "/admin/message_templates/flowrule/add/",
            {
                "name": "sales prices",
                "priority": "5",
                "is_active": "on",
                "bot": str(sales.pk),
                "match_type": "contains",
                "pattern": "price",
                "required_state": "",
                "action": "send_template",
                "template": str(answer.pk),
                "next_state": "",
            },
        )
        assert response.status_code == 302
        assert FlowRule.objects.get(name="sales prices").bot_id == sales.pk

        listing = owner.get(f"/admin/message_templates/flowrule/?bot_id={sales.pk}")
        page = listing.content.decode()
        assert listing.status_code == 200 and "sales prices" in page and "By bot" in page
        assert '<td class="field-bot_label">Sales desk</td>' in page  # the name, not the id

    def test_built_in_intents_show_their_bot_read_only(self, owner):
        stop = FlowRule.objects.get(builtin_intent=BuiltinIntent.OPT_OUT)
        page = owner.get(f"/admin/message_templates/flowrule/{stop.pk}/change/").content.decode()
        assert 'name="bot"' not in page
