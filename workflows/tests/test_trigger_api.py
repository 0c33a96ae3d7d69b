"""POST /api/workflows/trigger and GET /api/workflows/jobs/{id}: auth, validation, scheduling, idempotency."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from workflows.models import WorkflowJob, WorkflowTrigger
from workflows.tests.support import (
    any_host_client,
    client_headers,
    make_email_workflow,
    make_workflow,
    random_phone,
    unique_trigger,
)

pytestmark = pytest.mark.django_db


def post_trigger(onboarding, body: dict, **headers):
    return any_host_client().post(
        "/api/workflows/trigger",
        body,
        content_type="application/json",
        **(headers or client_headers(onboarding)),
    )


def job(job_id) -> WorkflowJob:
    return WorkflowJob.objects.get(pk=job_id)


def close_to(a: datetime, b: datetime, seconds: float = 5) -> bool:
    return abs((a - b).total_seconds()) < seconds


class TestAuthentication:
    def test_missing_wrong_key_or_wrong_code_is_401(self, alpha, beta):
        body = {"trigger": "lead_captured", "phone": random_phone()}
        client = any_host_client()
        assert client.post("/api/workflows/trigger", body, content_type="application/json").status_code == 401
        for headers in (
            client_headers(alpha, key="bzm_nope_nope"),
            client_headers(alpha, code=beta.tenant.client_code),  # alpha's key, beta's code
            client_headers(alpha, code=""),
        ):
            response = post_trigger(alpha, body, **headers)
            assert response.status_code == 401, headers
            assert response.json()["error"] == "authentication_failed"

    def test_job_lookup_needs_the_owning_tenants_credentials(self, alpha, beta):
        with schema_context("alpha"):
            make_workflow(trigger="lead_captured", name="welcome")
        created = post_trigger(alpha, {"trigger": "lead_captured", "phone": random_phone()}).json()
        job_id = created["jobIds"][0]
        client = any_host_client()
        assert client.get(f"/api/workflows/jobs/{job_id}", **client_headers(alpha)).status_code == 200
        assert client.get(f"/api/workflows/jobs/{job_id}").status_code == 401
        other = client.get(f"/api/workflows/jobs/{job_id}", **client_headers(beta))
        assert other.status_code == 404 and other.json()["error"] == "not_found"
        assert client.get("/api/workflows/jobs/not-a-uuid", **client_headers(alpha)).status_code == 404


class TestValidation:
    def test_fields_are_named_in_a_422(self, alpha):
        response = post_trigger(
            alpha,
            {
                "trigger": "Bad Trigger!",
                "phone": "12345",
                "variables": "not-a-list",
                "callbackUrl": "ftp://example.com/x",
                "callbackMetadata": [1, 2],
            },
        )
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "validation_error"
        assert {"trigger", "phone", "variables", "callbackUrl", "callbackMetadata"} <= set(body["fields"])

    def test_required_fields_and_types(self, alpha):
        response = post_trigger(alpha, {"delayMinutes": "soon", "baseTime": "next tuesday"})
        assert response.status_code == 422
        assert {"trigger", "phone", "delayMinutes"} <= set(response.json()["fields"])
        response = post_trigger(alpha, {"trigger": "lead_captured", "phone": random_phone(), "baseTime": "tuesday"})
        assert response.status_code == 422 and "baseTime" in response.json()["fields"]

    def test_malformed_json_is_400(self, alpha):
        response = any_host_client().post(
            "/api/workflows/trigger", "{not json", content_type="application/json", **client_headers(alpha)
        )
        assert response.status_code == 400

    def test_email_rule_needs_an_email(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_email_workflow(trigger=trigger)
        response = post_trigger(alpha, {"trigger": trigger, "phone": random_phone(), "variables": ["A", "B"]})
        assert response.status_code == 422 and "email" in response.json()["fields"]

    def test_missing_template_variable_is_named(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger, parameter_mapping={"body": [1, 2]})
        response = post_trigger(alpha, {"trigger": trigger, "phone": random_phone(), "variables": ["only one"]})
        assert response.status_code == 422
        assert "variable 2" in response.json()["fields"]["variables"][0]


class TestScheduling:
    def test_instant_and_delayed_rules_each_get_a_job(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            instant = make_workflow(trigger=trigger, name="now")
            later = make_workflow(trigger=trigger, name="later", delay_minutes=30)
            make_workflow(trigger=trigger, name="off", is_active=False)
        before = timezone.now()
        response = post_trigger(alpha, {"trigger": trigger, "phone": "918143963821", "variables": ["Asha"]})
        assert response.status_code == 202
        body = response.json()
        assert body["duplicate"] is False and body["phone"] == "+918143963821"
        assert len(body["jobIds"]) == 2
        with schema_context("alpha"):
            by_rule = {j.workflow_id: j for j in WorkflowJob.objects.filter(pk__in=body["jobIds"])}
            assert close_to(by_rule[instant.pk].due_at, before)
            assert by_rule[instant.pk].enqueued_at is not None  # handed to Celery at once
            assert close_to(by_rule[later.pk].due_at, before + timedelta(minutes=30))
            assert by_rule[later.pk].enqueued_at is None  # beyond the horizon: left to the dispatcher
            assert by_rule[instant.pk].content["template"]["components"][0]["parameters"][0]["text"] == "Asha"
            assert all(j.status == "pending" and j.recipient_phone == "+918143963821" for j in by_rule.values())

    def test_negative_delay_counts_back_from_base_time(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger, delay_minutes=-60)
        appointment = timezone.now() + timedelta(days=2)
        body = post_trigger(
            alpha, {"trigger": trigger, "phone": random_phone(), "baseTime": appointment.isoformat()}
        ).json()
        with schema_context("alpha"):
            assert job(body["jobIds"][0]).due_at == appointment - timedelta(minutes=60)

    def test_request_delay_replaces_the_rules_delay(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger, delay_minutes=-60)
        appointment = timezone.now() + timedelta(days=1)
        body = post_trigger(
            alpha,
            {"trigger": trigger, "phone": random_phone(), "baseTime": appointment.isoformat(), "delayMinutes": -15},
        ).json()
        with schema_context("alpha"):
            assert job(body["jobIds"][0]).due_at == appointment - timedelta(minutes=15)

    def test_naive_base_time_is_the_tenants_local_time(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger)
        alpha.tenant.timezone = "Asia/Kolkata"
        alpha.tenant.save(update_fields=["timezone"])
        day = (timezone.now() + timedelta(days=10)).date()
        try:
            body = post_trigger(
                alpha, {"trigger": trigger, "phone": random_phone(), "baseTime": f"{day}T10:00:00"}
            ).json()
        finally:
            alpha.tenant.timezone = "UTC"
            alpha.tenant.save(update_fields=["timezone"])
        with schema_context("alpha"):
            assert job(body["jobIds"][0]).due_at.isoformat() == f"{day}T04:30:00+00:00"

    def test_past_due_is_refused_unless_allow_late(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger, delay_minutes=-60)
        base = (timezone.now() + timedelta(minutes=30)).isoformat()  # 1 h before = 30 min ago
        refused = post_trigger(alpha, {"trigger": trigger, "phone": random_phone(), "baseTime": base})
        assert refused.status_code == 422
        assert "allowLate" in refused.json()["fields"]["baseTime"][0]
        accepted = post_trigger(
            alpha, {"trigger": trigger, "phone": random_phone(), "baseTime": base, "allowLate": True}
        )
        assert accepted.status_code == 202 and accepted.json()["jobs"][0]["late"] is True
        with schema_context("alpha"):
            late_job = job(accepted.json()["jobIds"][0])
            assert close_to(late_job.next_run_at, timezone.now()) and late_job.enqueued_at is not None

    def test_slightly_past_is_sent_at_once(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger)
        base = (timezone.now() - timedelta(seconds=20)).isoformat()
        response = post_trigger(alpha, {"trigger": trigger, "phone": random_phone(), "baseTime": base})
        assert response.status_code == 202 and response.json()["jobs"][0]["late"] is False

    def test_trigger_without_rules_schedules_nothing(self, alpha):
        response = post_trigger(alpha, {"trigger": unique_trigger(), "phone": random_phone()})
        assert response.status_code == 202 and response.json()["jobIds"] == []

    def test_trailing_slash_is_optional(self, alpha):
        response = any_host_client().post(
            "/api/workflows/trigger/",
            {"trigger": unique_trigger(), "phone": random_phone()},
            content_type="application/json",
            **client_headers(alpha),
        )
        assert response.status_code == 202

    def test_job_detail_shows_state_and_callback(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger, name="detail")
        body = post_trigger(
            alpha,
            {
                "trigger": trigger,
                "phone": random_phone(),
                "callbackUrl": "https://client.example/api/workflows/callback",
                "callbackMetadata": {"moduleId": "a1", "reminderKey": "1h"},
            },
        ).json()
        detail = any_host_client().get(f"/api/workflows/jobs/{body['jobIds'][0]}/", **client_headers(alpha)).json()
        assert detail["status"] == "pending" and detail["workflow"] == "detail" and detail["attempts"] == 0
        assert detail["callbackMetadata"] == {"moduleId": "a1", "reminderKey": "1h"}
        assert detail["callback"]["state"] == "none" and detail["messageId"] is None


class TestIdempotency:
    def test_same_key_returns_the_original_jobs_and_schedules_nothing_new(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger)
        body = {"trigger": trigger, "phone": random_phone(), "idempotencyKey": f"order-{uuid.uuid4()}"}
        first = post_trigger(alpha, body)
        second = post_trigger(alpha, body)
        assert first.status_code == 202 and second.status_code == 200
        assert second.json()["duplicate"] is True
        assert second.json()["jobIds"] == first.json()["jobIds"]
        with schema_context("alpha"):
            assert WorkflowJob.objects.filter(trigger=trigger).count() == 1
            assert WorkflowTrigger.objects.filter(idempotency_key=body["idempotencyKey"]).count() == 1

    def test_same_key_with_another_body_is_409(self, alpha):
        trigger = unique_trigger()
        with schema_context("alpha"):
            make_workflow(trigger=trigger)
        key = f"order-{uuid.uuid4()}"
        first = post_trigger(alpha, {"trigger": trigger, "phone": random_phone(), "idempotencyKey": key})
        conflict = post_trigger(alpha, {"trigger": trigger, "phone": random_phone(), "idempotencyKey": key})
        assert conflict.status_code == 409
        assert conflict.json()["jobIds"] == first.json()["jobIds"]
        assert "idempotencyKey" in conflict.json()["fields"]

    def test_keys_are_per_tenant(self, alpha, beta):
        key = f"shared-{uuid.uuid4()}"
        for onboarding in (alpha, beta):
            response = post_trigger(
                onboarding, {"trigger": unique_trigger(), "phone": random_phone(), "idempotencyKey": key}
            )
            assert response.status_code == 202
