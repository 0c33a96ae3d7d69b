"""The AI API: ``/api/ai/settings`` and website knowledge jobs, per tenant."""

import uuid

import pytest
from django.test import Client
from django_tenants.utils import schema_context
from pytest_httpserver import HTTPServer

from conversations.models import AIAssistantSettings, KnowledgeFetchJob
from conversations.tests.ai_support import ai_redis_clear
from tenants.services import owner_create
from tests.support import free_port, wait_for
from tests.tenancy import tenant_client


def api(onboarding) -> Client:
    return Client(HTTP_HOST=onboarding.domain.domain, HTTP_AUTHORIZATION=f"Bearer {onboarding.api_key.raw_key}")


@pytest.fixture(autouse=True)
def _clean_ai_redis():
    ai_redis_clear()
    yield
    ai_redis_clear()


@pytest.mark.django_db
class TestSettingsApi:
    def test_defaults_then_patch(self, alpha):
        client = api(alpha)
        body = client.get("/api/ai/settings").json()
        assert body["enabled"] is True and body["api_key_set"] is False and body["tokens_used_today"] == 0
        assert body["daily_token_budget"] == 200_000 and body["per_contact_hourly_cap"] == 20

        response = client.patch(
            "/api/ai/settings",
            {"model": "gpt-test", "temperature": 0.7, "api_key": "sk-own", "business_profile": "We cut hair."},
            content_type="application/json",
        )

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["model"], body["temperature"], body["business_profile"]) == ("gpt-test", 0.7, "We cut hair.")
        assert body["api_key_set"] is True and "api_key" not in body
        with schema_context("alpha"):
            assert AIAssistantSettings.objects.get().api_key == "sk-own"
        with schema_context("beta"):
            assert not AIAssistantSettings.objects.exists()

    def test_invalid_values_are_422(self, alpha):
        response = api(alpha).patch(
            "/api/ai/settings", {"temperature": 3, "timeout_seconds": 0}, content_type="application/json"
        )
        assert response.status_code == 422
        assert set(response.json()["fields"]) == {"temperature", "timeout_seconds"}

    def test_agents_read_but_only_owners_and_api_keys_change(self, alpha):
        with schema_context("alpha"):
            owner_create(email="agent-ai@alpha.test", password="agent-password", is_owner=False)
        agent = Client(HTTP_HOST=alpha.domain.domain)
        assert (
            agent.post("/login/", {"username": "agent-ai@alpha.test", "password": "agent-password"}).status_code == 302
        )
        assert agent.get("/api/ai/settings").status_code == 200
        response = agent.patch("/api/ai/settings", {"enabled": False}, content_type="application/json")
        assert response.status_code == 403

    def test_another_tenants_key_is_refused(self, alpha, beta):
        client = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {beta.api_key.raw_key}")
        assert client.get("/api/ai/settings").status_code == 401


@pytest.mark.django_db
class TestKnowledgeApi:
    def test_bad_url_is_422(self, alpha):
        response = api(alpha).post("/api/ai/knowledge/fetch", {"url": "ftp://x.test/"}, content_type="application/json")
        assert response.status_code == 422 and "url" in response.json()["fields"]

    def test_unknown_job_is_404(self, alpha):
        assert api(alpha).get(f"/api/ai/knowledge/jobs/{uuid.uuid4()}").status_code == 404


@pytest.mark.worker
def test_fetch_runs_on_the_worker_and_reports_progress(live_db, alpha, beta, celery_worker):
    site = HTTPServer(host="127.0.0.1", port=free_port())
    site.start()
    site.expect_request("/").respond_with_data(
        "<html><head><title>Alpha Dental</title></head><body><main><p>Alpha Dental cleans and whitens teeth "
        "in Pune, Monday to Saturday from 9 to 6.</p><a href='/prices'>Prices</a></main></body></html>",
        content_type="text/html",
    )
    site.expect_request("/prices").respond_with_data(
        "<html><head><title>Prices</title></head><body><main><p>A cleaning costs 1,500 rupees and whitening "
        "costs 8,000 rupees per session.</p></main></body></html>",
        content_type="text/html",
    )
    client = api(alpha)
    try:
        response = client.post("/api/ai/knowledge/fetch", {"url": site.url_for("/")}, content_type="application/json")
        assert response.status_code == 202, response.content
        job = response.json()
        assert job["status"] == "queued" and job["pages_total"] == 1

        done = wait_for(
            lambda: (
                (b := client.get(f"/api/ai/knowledge/jobs/{job['id']}").json())["status"] in ("done", "failed") and b
            ),
            timeout=30,
            what="the knowledge job to finish",
        )

        assert done["status"] == "done", done
        assert (done["pages_fetched"], done["pages_total"], done["pages_skipped"]) == (2, 2, 0)
        knowledge = client.get("/api/ai/settings").json()["knowledge"]
        assert "Monday to Saturday" in knowledge and "1,500 rupees" in knowledge
        assert api(beta).get(f"/api/ai/knowledge/jobs/{job['id']}").status_code == 404
    finally:
        site.stop()
        with schema_context("alpha"):
            KnowledgeFetchJob.objects.all().delete()
            AIAssistantSettings.objects.all().delete()


@pytest.mark.django_db
class TestAdmin:
    def test_settings_page_saves_through_the_service_and_keeps_the_key(self, alpha):
        owner = tenant_client(alpha, login=True)
        response = owner.get("/admin/conversations/aiassistantsettings/")
        assert response.status_code == 302
        change_url = response["Location"]
        assert owner.get(change_url).status_code == 200
        form = {
            "enabled": "on",
            "model": "",
            "temperature": "0.4",
            "timeout_seconds": "15",
            "system_prompt": "",
            "business_profile": "Dentist in Pune.",
            "knowledge": "Cleaning: 1,500 rupees.",
            "daily_token_budget": "5000",
            "per_contact_hourly_cap": "5",
            "api_key": "sk-admin-key",
            "fetch_url": "",
        }
        assert owner.post(change_url, form).status_code == 302
        assert owner.post(change_url, {**form, "api_key": "", "temperature": "0.5"}).status_code == 302
        with schema_context("alpha"):
            config = AIAssistantSettings.objects.get()
            assert (config.business_profile, config.temperature, config.daily_token_budget) == (
                "Dentist in Pune.",
                0.5,
                5000,
            )
            assert config.api_key == "sk-admin-key"  # a blank key field keeps the stored one
        bad = owner.post(change_url, {**form, "fetch_url": "ftp://x.test/"})
        assert bad.status_code == 200 and "only http and https" in bad.content.decode()

    def test_call_log_and_jobs_pages(self, alpha):
        owner = tenant_client(alpha, login=True)
        assert owner.get("/admin/conversations/aicalllog/").status_code == 200
        assert owner.get("/admin/conversations/knowledgefetchjob/").status_code == 200
