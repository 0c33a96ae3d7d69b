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


def _start(client):
    """Press "Sync from WhatsApp": the card with the job's progress, and the job."""
    from templates.models import TemplateSyncJob

    response = client.post("/settings/templates/sync/", HTTP_HX_REQUEST="true")
    with schema_context("alpha"):
        job = TemplateSyncJob.objects.order_by("-created_at").first()
    return response, job


def _run(job):
    from templates.services import template_sync_run

    with schema_context("alpha"):
        return template_sync_run(job_id=job.pk)


@pytest.mark.django_db
def test_sync_button_brings_in_templates_with_status_and_category(alpha, sandbox, settings):
    settings.TEMPLATES_SYNC_PAGE_SIZE = 2  # three templates: two pages of Meta's listing
    waba = alpha.phone_number.waba_id
    sandbox.add_message_template(waba, "booking_confirmed", language="en_US", category="UTILITY")
    sandbox.add_message_template(waba, "diwali_offer", language="hi", category="MARKETING", status="PENDING")
    sandbox.add_message_template(waba, "payment_due", language="en", category="UTILITY")
    client = tenant_client(alpha, login=True)
    page = client.get("/settings/templates/").content.decode()
    assert "No WhatsApp templates yet" in page and "Open the flow builder" in page
    assert "/admin/message_templates/flowrule/" in page
    response, job = _start(client)
    assert response.status_code == 200 and "<html" not in response.content.decode()
    body = response.content.decode()
    # The card polls the job and the button is off until it ends.
    assert f'hx-get="/settings/templates/sync/{job.pk}/"' in body and 'hx-trigger="every 1s"' in body
    assert "Waiting for the worker" in body and 'type="submit" disabled' in body
    # A second press joins the sync under way instead of spending Meta's budget twice.
    assert _start(client)[1].pk == job.pk
    done = _run(job)
    assert (done.status, done.pages_fetched, done.templates_fetched) == ("done", 2, 3)
    assert (done.accounts_total, done.accounts_done, done.percent) == (1, 1, 100)
    finished = client.get(f"/settings/templates/sync/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Synced: 3 new, 0 updated, 0 no longer on WhatsApp — 3 templates in 2 pages from 1 account" in finished
    assert "every 1s" not in finished and 'type="submit" disabled' not in finished
    assert "booking_confirmed" in finished and "Utility" in finished and "Approved" in finished
    assert "diwali_offer" in finished and "Marketing" in finished and "Pending" in finished
    # What the page's own requests saw, page by page (the progress the card showed).
    listing = [r for r in sandbox.requests if r["path"].endswith(f"/{waba}/message_templates")]
    assert len(listing) == 2


@pytest.mark.django_db
def test_progress_is_recorded_page_by_page(alpha, sandbox, settings):
    from templates.services.meta_sync import meta_templates_sync

    settings.TEMPLATES_SYNC_PAGE_SIZE = 1
    waba = alpha.phone_number.waba_id
    for name in ("one", "two", "three"):
        sandbox.add_message_template(waba, f"progress_{name}", language="en", category="UTILITY")
    steps = []
    with schema_context("alpha"):
        meta_templates_sync(on_progress=steps.append)
    assert [(s.accounts_done, s.pages, s.templates) for s in steps] == [(0, 1, 1), (0, 2, 2), (0, 3, 3), (1, 3, 3)]


@pytest.mark.django_db
def test_sync_failure_shows_whatsapps_reason(alpha, settings):
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:9"  # nothing listens: WhatsApp unreachable
    client = tenant_client(alpha, login=True)
    response, job = _start(client)
    assert response.status_code == 200
    failed = _run(job)
    assert failed.status == "failed" and "could not be reached" in failed.error
    body = client.get(f"/settings/templates/sync/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Not synced: WhatsApp could not be reached" in body and "every 1s" not in body
    # Without htmx the page itself says it.
    assert (
        "Not synced: WhatsApp could not be reached"
        in client.get(f"/settings/templates/sync/{job.pk}/").content.decode()
    )
    assert client.get("/settings/templates/sync/not-a-job/").status_code == 404


@pytest.mark.django_db
def test_no_whatsapp_account_is_said_at_once(alpha):
    from templates.models import TemplateSyncJob
    from tenants.models import PhoneNumber

    PhoneNumber.objects.filter(tenant=alpha.tenant).update(waba_id="")
    client = tenant_client(alpha, login=True)
    response = client.post("/settings/templates/sync/", HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "No WhatsApp Business account" in response.content.decode()
    with schema_context("alpha"):
        assert not TemplateSyncJob.objects.exists()


@pytest.mark.django_db
def test_agents_get_the_friendly_403(alpha):
    with schema_context(alpha.tenant.schema_name):
        owner_create(email="agent-t@alpha.test", password="agent-password-2", is_owner=False)
    client = Client(HTTP_HOST=alpha.domain.domain)
    assert client.post("/login/", {"username": "agent-t@alpha.test", "password": "agent-password-2"}).status_code == 302
    response = client.get("/settings/templates/")
    assert response.status_code == 403 and "Only owners can change settings" in response.content.decode()
    assert client.post("/settings/templates/sync/", HTTP_HX_REQUEST="true").status_code == 403
