"""/api/workflows/ (rules CRUD) and /api/workflows/callback-secret/ on the tenant's domain."""

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from tenants.models import Tenant
from tenants.services import owner_create, secret_fingerprint
from tests.tenancy import tenant_client
from workflows.models import CommunicationWorkflow

pytestmark = pytest.mark.django_db

RULE = {
    "name": "Appointment confirmation",
    "trigger": "appointment_confirmed",
    "channel": "whatsapp",
    "template_name": "appointment_confirmed_v2",
    "language": "en_US",
    "delay_minutes": 0,
    "is_active": True,
}


def api_key_client(onboarding) -> Client:
    return Client(HTTP_HOST=onboarding.domain.domain, HTTP_AUTHORIZATION=f"Bearer {onboarding.api_key.raw_key}")


class TestWorkflowCrud:
    def test_owner_creates_lists_updates_and_deletes_a_rule(self, alpha):
        client = tenant_client(alpha, login=True)
        created = client.post("/api/workflows/", RULE, content_type="application/json")
        assert created.status_code == 201, created.json()
        rule_id = created.json()["id"]
        assert created.json()["trigger"] == "appointment_confirmed"

        listed = client.get("/api/workflows/?trigger=appointment_confirmed").json()
        assert rule_id in [r["id"] for r in listed["results"]]

        patched = client.patch(
            f"/api/workflows/{rule_id}/", {"delay_minutes": -60, "is_active": False}, content_type="application/json"
        )
        assert patched.status_code == 200 and patched.json()["delay_minutes"] == -60
        assert client.get(f"/api/workflows/{rule_id}/").json()["is_active"] is False

        assert client.delete(f"/api/workflows/{rule_id}/").status_code == 204
        with schema_context("alpha"):
            assert not CommunicationWorkflow.objects.filter(pk=rule_id).exists()

    def test_api_key_can_manage_rules(self, alpha):
        response = api_key_client(alpha).post(
            "/api/workflows/", {**RULE, "trigger": "course_completed"}, content_type="application/json"
        )
        assert response.status_code == 201

    def test_invalid_rule_is_422_with_fields(self, alpha):
        client = api_key_client(alpha)
        response = client.post(
            "/api/workflows/",
            {**RULE, "trigger": "Not A Slug", "template_name": "Bad-Name", "language": "english", "channel": "sms"},
            content_type="application/json",
        )
        assert response.status_code == 422
        assert {"trigger", "template_name", "language", "channel"} <= set(response.json()["fields"])

        email = client.post(
            "/api/workflows/", {**RULE, "channel": "email", "template_name": ""}, content_type="application/json"
        )
        assert email.status_code == 422 and {"body", "email_subject"} <= set(email.json()["fields"])

        whatsapp_without_message = client.post(
            "/api/workflows/", {**RULE, "template_name": ""}, content_type="application/json"
        )
        assert "template_name" in whatsapp_without_message.json()["fields"]

    def test_rules_are_per_tenant(self, alpha, beta):
        created = api_key_client(alpha).post("/api/workflows/", RULE, content_type="application/json").json()
        assert api_key_client(beta).get(f"/api/workflows/{created['id']}/").status_code == 404
        assert created["id"] not in [r["id"] for r in api_key_client(beta).get("/api/workflows/").json()["results"]]

    def test_agents_read_but_do_not_change_rules(self, alpha):
        with schema_context("alpha"):
            owner_create(email="agent@alpha.test", password="agent-password", is_owner=False)
        client = Client(HTTP_HOST=alpha.domain.domain)
        assert client.post("/login/", {"username": "agent@alpha.test", "password": "agent-password"}).status_code == 302
        assert client.get("/api/workflows/").status_code == 200
        assert client.post("/api/workflows/", RULE, content_type="application/json").status_code == 403

    def test_anonymous_is_refused(self, alpha):
        assert Client(HTTP_HOST=alpha.domain.domain).get("/api/workflows/").status_code in (401, 403)


class TestCallbackSecret:
    def test_get_says_it_is_set_masked_never_the_secret(self, alpha):
        response = tenant_client(alpha, login=True).get("/api/workflows/callback-secret/")
        assert response.status_code == 200
        body = response.json()
        secret = str(Tenant.objects.get(pk=alpha.tenant.pk).callback_signing_secret)
        assert secret and secret not in response.content.decode()
        assert "callbackSigningSecret" not in body
        assert body["isSet"] is True
        assert body["masked"] == f"••••••••{secret[-4:]}"
        assert body["fingerprint"] == secret_fingerprint(secret)
        assert body["signatureHeader"] == "X-BizMitra-Signature"

    def test_rotation_shows_the_new_secret_once_and_records_when(self, alpha):
        client = tenant_client(alpha, login=True)
        before = client.get("/api/workflows/callback-secret/").json()
        rotated = client.post(
            "/api/workflows/callback-secret/", {"fingerprint": before["fingerprint"]}, content_type="application/json"
        )
        assert rotated.status_code == 200, rotated.content
        new = rotated.json()["callbackSigningSecret"]
        tenant = Tenant.objects.get(pk=alpha.tenant.pk)
        assert new == str(tenant.callback_signing_secret) and new != before["masked"]
        assert tenant.callback_secret_rotated_at is not None
        after = client.get("/api/workflows/callback-secret/")
        assert new not in after.content.decode()
        assert after.json()["rotatedAt"] == tenant.callback_secret_rotated_at.isoformat()
        assert after.json()["fingerprint"] == secret_fingerprint(new) != before["fingerprint"]
        # A second owner still holding the old fingerprint is refused, not silently rotated again.
        stale = client.post(
            "/api/workflows/callback-secret/", {"fingerprint": before["fingerprint"]}, content_type="application/json"
        )
        assert stale.status_code == 409
        assert str(Tenant.objects.get(pk=alpha.tenant.pk).callback_signing_secret) == new
        missing = client.post("/api/workflows/callback-secret/", {}, content_type="application/json")
        assert missing.status_code in (400, 422) and "fingerprint" in missing.content.decode()

    def test_api_keys_and_anonymous_do_not(self, alpha):
        assert api_key_client(alpha).get("/api/workflows/callback-secret/").status_code in (401, 403)
        assert api_key_client(alpha).post("/api/workflows/callback-secret/", {}).status_code in (401, 403)
        assert Client(HTTP_HOST=alpha.domain.domain).get("/api/workflows/callback-secret/").status_code in (401, 403)
