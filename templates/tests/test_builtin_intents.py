"""Built-in intents: seeded once per tenant, editable, never resurrected."""

from django.core.management import call_command
from django_tenants.utils import schema_context

from templates.choices import BuiltinIntent, FlowAction
from templates.models import FlowRule, FlowSettings, MessageTemplate
from templates.services import BUILTIN_INTENTS, builtin_intents_ensure, flow_match
from tenants.services import tenant_onboard


def test_onboarded_tenant_has_every_intent_once(in_alpha):
    rules = FlowRule.objects.exclude(builtin_intent="")
    assert sorted(rules.values_list("builtin_intent", flat=True)) == sorted(BuiltinIntent.values)
    assert all(rule.is_active and rule.template.kind == "text" and rule.template.body for rule in rules)
    assert rules.get(builtin_intent="support").action == FlowAction.HANDOFF
    assert rules.get(builtin_intent="opt_out").priority < rules.get(builtin_intent="greeting").priority
    assert sorted(FlowSettings.objects.get().builtin_intents_seeded) == sorted(BuiltinIntent.values)


def test_ensure_is_idempotent(in_alpha):
    templates_before = MessageTemplate.objects.count()
    assert builtin_intents_ensure() == []
    assert builtin_intents_ensure() == []
    assert FlowRule.objects.exclude(builtin_intent="").count() == len(BUILTIN_INTENTS)
    assert MessageTemplate.objects.count() == templates_before


def test_edits_stick_and_deleted_intents_stay_deleted(in_alpha):
    greeting = FlowRule.objects.get(builtin_intent="greeting")
    greeting.pattern = "hi, vanakkam"
    greeting.save()
    FlowRule.objects.get(builtin_intent="bye").delete()
    assert builtin_intents_ensure() == []
    assert FlowRule.objects.get(builtin_intent="greeting").pattern == "hi, vanakkam"
    assert not FlowRule.objects.filter(builtin_intent="bye").exists()
    assert flow_match(text="Vanakkam!", payload_id="", state=None).rule == greeting


def test_an_intent_added_later_is_seeded_for_existing_tenants(in_alpha):
    FlowRule.objects.get(builtin_intent="demo").delete()
    settings = FlowSettings.objects.get()
    settings.builtin_intents_seeded = [i for i in settings.builtin_intents_seeded if i != "demo"]
    settings.save()
    [created] = builtin_intents_ensure()
    assert created.builtin_intent == "demo"


def test_new_tenant_is_seeded_at_creation_and_command_reruns_safely(db, tenants_setup):
    tenant_onboard(
        name="Epsilon Spa",
        schema_name="epsilon_tpl",
        domain="epsilon-tpl.test",
        phone_number_id="555000999",
        access_token="epsilon-token",
        owner_email="owner@epsilon.test",
        owner_password="epsilon-password",
    )
    with schema_context("epsilon_tpl"):
        assert FlowRule.objects.exclude(builtin_intent="").count() == len(BUILTIN_INTENTS)
    call_command("tenant_command", "builtin_intents_ensure", schema_name="epsilon_tpl")
    with schema_context("epsilon_tpl"):
        assert FlowRule.objects.exclude(builtin_intent="").count() == len(BUILTIN_INTENTS)
