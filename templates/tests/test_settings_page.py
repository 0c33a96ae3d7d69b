"""The Templates section of the owner settings: list, sync against a Graph sandbox, owners only."""

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from conversations.whatsapp.sandbox import GraphSandbox
from tenants.services import owner_create
from tests.tenancy import tenant_client


@pytest.fixture
def sandbox(alpha, settings):
    with GraphSandbox() as sandbox:
        number = alpha.phone_number
        sandbox.register_number(number.phone_number_id, "alpha-token", waba_id=number.waba_id)
        settings.WHATSAPP_GRAPH_URL = sandbox.base_url
        yield sandbox


@pytest.mark.django_db
def test_sync_button_brings_in_templates_with_status_and_category(alpha, sandbox):
    waba = alpha.phone_number.waba_id
    sandbox.add_message_template(waba, "booking_confirmed", language="en_US", category="UTILITY")
    sandbox.add_message_template(waba, "diwali_offer", language="hi", category="MARKETING", status="PENDING")
    client = tenant_client(alpha, login=True)
    page = client.get("/settings/templates/").content.decode()
    assert "No WhatsApp templates yet" in page and "Open the flow builder" in page
    assert "/admin/message_templates/flowrule/" in page
    response = client.post("/settings/templates/sync/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Synced: 2 new, 0 updated" in body
    assert "booking_confirmed" in body and "Utility" in body and "Approved" in body
    assert "diwali_offer" in body and "Marketing" in body and "Pending" in body
    assert "<html" not in body


@pytest.mark.django_db
def test_sync_failure_shows_whatsapps_reason(alpha, settings):
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:9"  # nothing listens: WhatsApp unreachable
    client = tenant_client(alpha, login=True)
    response = client.post("/settings/templates/sync/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Not synced: WhatsApp could not be reached" in response.content.decode()
    assert client.post("/settings/templates/sync/").status_code == 502


@pytest.mark.django_db
def test_agents_get_the_friendly_403(alpha):
    with schema_context(alpha.tenant.schema_name):
        owner_create(email="agent-t@alpha.test", password="agent-password-2", is_owner=False)
    client = Client(HTTP_HOST=alpha.domain.domain)
    assert client.post("/login/", {"username": "agent-t@alpha.test", "password": "agent-password-2"}).status_code == 302
    response = client.get("/settings/templates/")
    assert response.status_code == 403 and "Only owners can change settings" in response.content.decode()
    assert client.post("/settings/templates/sync/", HTTP_HX_REQUEST="true").status_code == 403
