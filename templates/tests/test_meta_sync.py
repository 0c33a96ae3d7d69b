"""meta_templates_sync against a running Graph sandbox (real HTTP, Meta's wire format)."""

import pytest

from bizmitra.errors import ValidationFailed
from conversations.whatsapp.sandbox import GraphSandbox
from templates.choices import ParameterFormat, TemplateKind
from templates.models import MessageTemplate
from templates.rendering import render_template
from templates.services import MetaSyncFailed, meta_templates_sync
from templates.tests.factories import text_template, wire
from tests.tenancy import tenant_client

NAMED_BODY = {
    "type": "BODY",
    "text": "Hi {{customer_name}}, your booking on {{date}} is confirmed.",
    "example": {"body_text_named_params": [{"param_name": "customer_name", "example": "Maria"}]},
}
PROMO = [
    {"type": "HEADER", "format": "TEXT", "text": "Offer {{1}}"},
    {"type": "BODY", "text": "Hello {{1}}, {{2}} is on sale."},
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
    {
        "type": "BUTTONS",
        "buttons": [{"type": "QUICK_REPLY", "text": "Interested"}, {"type": "QUICK_REPLY", "text": "Stop promotions"}],
    },
]


@pytest.fixture
def sandbox(alpha, settings):
    with GraphSandbox() as sandbox:
        number = alpha.phone_number
        sandbox.register_number(number.phone_number_id, "alpha-token", waba_id=number.waba_id)
        settings.WHATSAPP_GRAPH_URL = sandbox.base_url
        yield sandbox


def meta(name, language="en_US"):
    return MessageTemplate.objects.get(kind=TemplateKind.META_TEMPLATE, meta_name=name, meta_language=language)


def test_sync_creates_named_and_positional_templates(in_alpha, alpha, sandbox):
    waba = alpha.phone_number.waba_id
    sandbox.add_message_template(waba, "booking_confirmed", language="en_US", components=[NAMED_BODY])
    sandbox.add_message_template(waba, "summer_promo", language="hi", category="MARKETING", components=PROMO)
    sandbox.add_message_template(waba, "draft_one", status="PENDING")

    result = meta_templates_sync()

    assert (result.created, result.updated, result.deactivated, result.waba_ids) == (3, 0, 0, (waba,))
    booking = meta("booking_confirmed")
    assert booking.meta_parameter_format == ParameterFormat.NAMED and booking.is_sendable
    assert booking.body == NAMED_BODY["text"] and set(booking.variables) == {"customer_name", "date"}
    promo = meta("summer_promo", "hi")
    assert promo.meta_parameter_format == ParameterFormat.POSITIONAL and promo.meta_category == "MARKETING"
    assert (promo.header_text, promo.footer) == ("Offer {{1}}", "Reply STOP to opt out")
    assert [(b.position, b.title) for b in promo.buttons.all()] == [(0, "Interested"), (1, "Stop promotions")]
    assert not meta("draft_one").is_sendable
    # The Graph call carried the tenant's own token to its own WABA.
    assert any(r["path"].endswith(f"/{waba}/message_templates") and r["status"] == 200 for r in sandbox.requests)

    rendered = render_template(booking, {"customer_name": "Maria", "date": "1 May"})
    assert rendered["content"]["components"][0]["parameters"][0] == {
        "type": "text",
        "parameter_name": "customer_name",
        "text": "Maria",
    }


def test_resync_keeps_keys_wiring_and_settings_and_deactivates_removed(in_alpha, alpha, sandbox):
    waba = alpha.phone_number.waba_id
    sandbox.add_message_template(waba, "summer_promo", language="hi", components=PROMO)
    sandbox.add_message_template(waba, "old_one")
    meta_templates_sync()
    promo = meta("summer_promo", "hi")
    interested = promo.buttons.get(position=0)
    wire(interested, text_template(name="Details"), next_state="interested")
    promo.variables = {"1": {"source": "first_name", "fallback": "there"}, "2": {"source": "", "fallback": ""}}
    promo.save()

    sandbox.reset()
    sandbox.register_number(alpha.phone_number.phone_number_id, "alpha-token", waba_id=waba)
    sandbox.add_message_template(waba, "summer_promo", language="hi", components=PROMO, status="PAUSED")
    result = meta_templates_sync()

    assert (result.created, result.updated, result.deactivated) == (0, 1, 1)
    again = meta("summer_promo", "hi")
    assert (again.key, again.meta_status) == (promo.key, "PAUSED")
    assert again.variables["1"] == {"source": "first_name", "fallback": "there"}
    kept = again.buttons.get(position=0)
    assert (kept.payload_id, kept.next_state) == (interested.payload_id, "interested")
    gone = meta("old_one")
    assert (gone.is_active, gone.meta_status) == (False, "DELETED")
    assert meta_templates_sync().deactivated == 0  # already marked


def test_wrong_token_fails_cleanly_and_writes_nothing(in_alpha, alpha, sandbox):
    sandbox.reset()
    sandbox.register_number(alpha.phone_number.phone_number_id, "rotated-token", waba_id=alpha.phone_number.waba_id)
    sandbox.add_message_template(alpha.phone_number.waba_id, "hello_world")
    with pytest.raises(MetaSyncFailed):
        meta_templates_sync()
    assert not MessageTemplate.objects.filter(kind=TemplateKind.META_TEMPLATE).exists()


def test_tenant_without_waba_is_told_so(in_alpha, alpha):
    from tenants.models import PhoneNumber

    PhoneNumber.objects.filter(tenant=alpha.tenant).update(waba_id="")
    with pytest.raises(ValidationFailed):
        meta_templates_sync()


def test_admin_sync_button(alpha, sandbox, db):
    sandbox.add_message_template(alpha.phone_number.waba_id, "welcome_back")
    client = tenant_client(alpha, login=True)
    response = client.post("/admin/message_templates/messagetemplate/sync-meta/", follow=True)
    assert response.status_code == 200
    assert b"Synced from WhatsApp: 1 new" in response.content
    assert b"welcome_back" in response.content


def test_api_sync(alpha, sandbox, db):
    sandbox.add_message_template(alpha.phone_number.waba_id, "welcome_back")
    client = tenant_client(alpha)
    response = client.post("/api/templates/sync/", HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")
    assert response.status_code == 200 and response.json()["created"] == 1
