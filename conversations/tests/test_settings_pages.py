"""Settings pages of part A (issue 11 §4): the shell, profile, bots, AI, website knowledge.

Pages are exercised through the tenant's own domain with Django's test client; services and
selectors directly. Outside services (the OpenAI-compatible endpoint, a website) are local
HTTP servers.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from tenants.services import owner_create
from tests.tenancy import tenant_client

AGENT_EMAIL = "agent@alpha.test"
AGENT_PASSWORD = "agent-password-1"


def _agent_client(alpha) -> Client:
    with schema_context(alpha.tenant.schema_name):
        owner_create(email=AGENT_EMAIL, password=AGENT_PASSWORD, is_owner=False)
    client = Client(HTTP_HOST=alpha.domain.domain)
    assert client.post("/login/", {"username": AGENT_EMAIL, "password": AGENT_PASSWORD}).status_code == 302
    return client


@pytest.mark.django_db
def test_settings_link_opens_the_profile(alpha):
    client = tenant_client(alpha, login=True)
    page = client.get("/").content.decode()
    assert 'href="/settings/"' in page
    response = client.get("/settings/")
    assert response.status_code == 302
    assert response["Location"] == "/settings/profile/"


@pytest.mark.django_db
def test_agent_gets_the_friendly_403_for_settings(alpha):
    client = _agent_client(alpha)
    response = client.get("/settings/")
    assert response.status_code == 403
    assert "Only owners can change settings" in response.content.decode()
    fragment = client.get("/settings/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 403
    assert "<html" not in fragment.content.decode()
