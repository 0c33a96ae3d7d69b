"""The tenant admin shows rules, jobs and SMTP settings; the platform admin does not."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.tenancy import tenant_client
from workflows.models import TenantEmailSettings, WorkflowJob
from workflows.services import workflow_trigger_fire
from workflows.tests.support import make_workflow, random_phone

pytestmark = pytest.mark.django_db


def test_owner_sees_workflow_pages(alpha):
    with schema_context("alpha"):
        rule = make_workflow(name="Reminder")
        job = workflow_trigger_fire(
            trigger=rule.trigger, phone=random_phone(), base_time=timezone.now() + timedelta(days=1)
        ).jobs[0]
    client = tenant_client(alpha, login=True)
    for url in (
        "/admin/workflows/communicationworkflow/",
        f"/admin/workflows/communicationworkflow/{rule.pk}/change/",
        "/admin/workflows/workflowjob/",
        f"/admin/workflows/workflowjob/{job.pk}/change/",
        "/admin/workflows/workflowtrigger/",
        "/admin/workflows/tenantemailsettings/add/",
    ):
        assert client.get(url).status_code == 200, url


def test_cancel_action_cancels_pending_jobs(alpha):
    with schema_context("alpha"):
        rule = make_workflow()
        job = workflow_trigger_fire(
            trigger=rule.trigger, phone=random_phone(), base_time=timezone.now() + timedelta(days=1)
        ).jobs[0]
    response = tenant_client(alpha, login=True).post(
        "/admin/workflows/workflowjob/", {"action": "cancel_jobs", "_selected_action": [str(job.pk)]}
    )
    assert response.status_code == 302
    with schema_context("alpha"):
        assert WorkflowJob.objects.get(pk=job.pk).status == "cancelled"


def test_smtp_password_is_write_only(alpha):
    client = tenant_client(alpha, login=True)
    form = {
        "host": "smtp.alpha.test",
        "port": 587,
        "username": "clinic",
        "password": "s3cret-pass",
        "use_tls": "on",
        "from_email": "clinic@alpha.test",
        "is_active": "on",
    }
    assert client.post("/admin/workflows/tenantemailsettings/add/", form).status_code == 302
    with schema_context("alpha"):
        settings = TenantEmailSettings.objects.get()
        assert settings.password == "s3cret-pass"
    page = client.get(f"/admin/workflows/tenantemailsettings/{settings.pk}/change/")
    assert b"s3cret-pass" not in page.content
    # Saving without a password keeps the stored one.
    assert client.post(f"/admin/workflows/tenantemailsettings/{settings.pk}/change/", {**form, "password": ""})
    with schema_context("alpha"):
        assert TenantEmailSettings.objects.get().password == "s3cret-pass"


def test_retry_action_gives_a_failed_job_fresh_attempts(alpha):
    with schema_context("alpha"):
        rule = make_workflow(max_attempts=2)
        job = workflow_trigger_fire(trigger=rule.trigger, phone=random_phone()).jobs[0]
        WorkflowJob.objects.filter(pk=job.pk).update(status="failed", attempts=2, finished_at=timezone.now())
    response = tenant_client(alpha, login=True).post(
        "/admin/workflows/workflowjob/", {"action": "retry_jobs", "_selected_action": [str(job.pk)]}
    )
    assert response.status_code == 302
    with schema_context("alpha"):
        job.refresh_from_db()
    assert job.status == "pending" and job.max_attempts == 4 and job.finished_at is None
