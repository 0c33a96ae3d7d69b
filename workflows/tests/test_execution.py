"""Jobs executed by a real Celery worker: email and WhatsApp sends, retries, callbacks, recovery."""

import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from werkzeug import Response

from tests.support import wait_for
from workflows.models import WorkflowJob
from workflows.services.scheduling import jobs_enqueue
from workflows.tasks import workflow_dispatch_task
from workflows.tests.support import any_host_client, client_headers, random_phone, unique_trigger

pytestmark = pytest.mark.worker

EMAIL_RULE = {
    "channel": "email",
    "template_name": "",
    "email_subject": "Hello {{1}}",
    "body": "Dear {{1}}, see you at {{2}}.",
}


def fire(onboarding, **body) -> dict:
    response = any_host_client().post(
        "/api/workflows/trigger", body, content_type="application/json", **client_headers(onboarding)
    )
    assert response.status_code == 202, response.content
    return response.json()


def get_job(job_id) -> WorkflowJob:
    with schema_context("alpha"):
        return WorkflowJob.objects.get(pk=job_id)


def wait_finished(job_id, *, timeout: float = 60) -> WorkflowJob:
    return wait_for(
        lambda: (j := get_job(job_id)).status in ("completed", "failed", "cancelled") and j,
        timeout=timeout,
        what=f"job {job_id} to finish",
    )


def new_email() -> str:
    return f"patient-{uuid.uuid4().hex[:10]}@example.com"


def test_instant_email_trigger_is_sent_and_the_job_completes(alpha, alpha_rules, smtp, celery_worker):
    rule = alpha_rules(trigger=unique_trigger(), **EMAIL_RULE)
    to = new_email()
    created = fire(alpha, trigger=rule.trigger, phone=random_phone(), email=to, variables=["Asha", "10 AM"])

    job = wait_finished(created["jobIds"][0])

    assert job.status == "completed" and job.attempts == 1 and job.last_error == ""
    [mail] = smtp.to(to)
    assert "Subject: Hello Asha" in mail["data"] and "Dear Asha, see you at 10 AM." in mail["data"]
    assert mail["from"] == "clinic@alpha.test"
    assert f"<wfjob.{job.pk}@alpha.test>" in mail["data"]  # stable Message-ID across retries
    detail = any_host_client().get(f"/api/workflows/jobs/{job.pk}", **client_headers(alpha)).json()
    assert detail["status"] == "completed" and detail["finishedAt"]


def test_delayed_trigger_runs_at_its_due_time_not_before(alpha, alpha_rules, smtp, celery_worker):
    rule = alpha_rules(trigger=unique_trigger(), **EMAIL_RULE)
    created = fire(
        alpha, trigger=rule.trigger, phone=random_phone(), email=new_email(), variables=["A", "B"], delayMinutes=0.05
    )
    job = get_job(created["jobIds"][0])
    assert job.enqueued_at is not None  # within the horizon: handed over with an ETA at once

    job = wait_finished(job.pk)

    assert job.status == "completed"
    assert job.started_at >= job.due_at - timedelta(seconds=1)


def test_negative_delay_from_base_time_runs_before_it(alpha, alpha_rules, smtp, celery_worker):
    rule = alpha_rules(trigger=unique_trigger(), delay_minutes=-1, **EMAIL_RULE)
    appointment = timezone.now() + timedelta(seconds=63)  # "1 minute before" = in ~3 s
    created = fire(
        alpha,
        trigger=rule.trigger,
        phone=random_phone(),
        email=new_email(),
        variables=["A", "B"],
        baseTime=appointment.isoformat(),
    )
    job = wait_finished(created["jobIds"][0])
    assert job.status == "completed"
    assert job.due_at == appointment - timedelta(minutes=1)
    assert job.due_at - timedelta(seconds=1) <= job.started_at < appointment


def test_a_temporary_smtp_refusal_is_retried_with_backoff(alpha, alpha_rules, smtp, celery_worker):
    smtp.fail_first = 1
    rule = alpha_rules(trigger=unique_trigger(), retry_base_seconds=1, **EMAIL_RULE)
    to = new_email()
    created = fire(alpha, trigger=rule.trigger, phone=random_phone(), email=to, variables=["A", "B"])

    job = wait_finished(created["jobIds"][0])

    assert job.status == "completed" and job.attempts == 2
    assert job.last_error.startswith("SMTPDataError")  # the first attempt's error is kept
    assert smtp.refused == 1 and len(smtp.to(to)) == 1
    assert job.next_run_at >= job.started_at + timedelta(seconds=1)


def test_attempts_are_bounded_then_the_job_fails(alpha, alpha_rules, smtp, celery_worker):
    smtp.fail_first = 10
    rule = alpha_rules(trigger=unique_trigger(), retry_base_seconds=1, max_attempts=2, **EMAIL_RULE)
    created = fire(alpha, trigger=rule.trigger, phone=random_phone(), email=new_email(), variables=["A", "B"])

    job = wait_finished(created["jobIds"][0])

    assert job.status == "failed" and job.attempts == 2 and "451" in job.last_error


def test_duplicate_celery_messages_send_once(alpha, alpha_rules, smtp, celery_worker):
    rule = alpha_rules(trigger=unique_trigger(), **EMAIL_RULE)
    to = new_email()
    created = fire(alpha, trigger=rule.trigger, phone=random_phone(), email=to, variables=["A", "B"], delayMinutes=0.03)
    job = get_job(created["jobIds"][0])
    jobs_enqueue(schema_name="alpha", items=[(job.pk, job.next_run_at)] * 3 + [(job.pk, timezone.now())])

    job = wait_finished(job.pk)
    wait_for(lambda: smtp.to(to), what="the email")

    assert job.attempts == 1 and len(smtp.to(to)) == 1


def test_callback_put_is_signed_and_retried_until_accepted(alpha, alpha_rules, smtp, celery_worker, httpserver):
    httpserver.expect_ordered_request("/api/workflows/callback", method="PUT").respond_with_response(
        Response("down for maintenance", status=503)
    )
    httpserver.expect_ordered_request("/api/workflows/callback", method="PUT").respond_with_json({"success": True})
    rule = alpha_rules(trigger=unique_trigger(), retry_base_seconds=1, **EMAIL_RULE)
    metadata = {"moduleId": "appt-77", "moduleType": "Appointment", "reminderKey": "confirmed"}
    created = fire(
        alpha,
        trigger=rule.trigger,
        phone=random_phone(),
        email=new_email(),
        variables=["A", "B"],
        callbackUrl=httpserver.url_for("/api/workflows/callback"),
        callbackMetadata=metadata,
    )
    job_id = created["jobIds"][0]

    job = wait_for(
        lambda: (j := get_job(job_id)).callback_state in ("delivered", "failed") and j,
        timeout=60,
        what="the callback to be delivered",
    )

    assert job.callback_state == "delivered" and job.callback_attempts == 2
    assert job.callback_last_status_code == 200 and job.callback_delivered_at is not None
    (first, first_response), (second, _) = [(req, resp) for req, resp in httpserver.log]
    assert first_response.status_code == 503
    assert json.loads(second.get_data()) == {"status": "completed", "metadata": metadata, "jobId": job_id}
    # The client verifies with the secret the owner was shown when rotating it.
    secret = str(alpha.tenant.callback_signing_secret).encode()
    for request in (first, second):
        expected = "sha256=" + hmac.new(secret, request.get_data(), hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["X-BizMitra-Signature"], expected)


def test_whatsapp_template_job_queues_a_message_that_is_sent(alpha, alpha_rules, celery_worker, graph_sandbox):
    rule = alpha_rules(trigger=unique_trigger(), template_name="appointment_confirmed_v2", language="en_US")
    phone = random_phone()
    created = fire(alpha, trigger=rule.trigger, phone=phone, variables=["Asha", "Dr. Rao"])

    job = wait_finished(created["jobIds"][0])

    assert job.status == "completed" and job.message_id is not None
    from conversations.models import Message

    with schema_context("alpha"):
        message = Message.objects.get(pk=job.message_id)
        assert message.idempotency_key == f"wfjob:{job.pk}" and message.type == "template"
    sent = wait_for(
        lambda: [
            r
            for r in graph_sandbox.sent_messages
            if r["payload"].get("biz_opaque_callback_data") == f"bzm:{job.message_id}"
        ],
        timeout=60,
        what="the template to reach the Graph sandbox",
    )
    template = sent[0]["payload"]["template"]
    assert sent[0]["payload"]["to"] == phone
    assert template["name"] == "appointment_confirmed_v2"
    assert [p["text"] for p in template["components"][0]["parameters"]] == ["Asha", "Dr. Rao"]


def test_free_text_outside_the_window_fails_without_retrying(alpha, alpha_rules, celery_worker):
    rule = alpha_rules(trigger=unique_trigger(), template_name="", body="Hi {{1}}, thanks for your order.")
    created = fire(alpha, trigger=rule.trigger, phone=random_phone(), variables=["Asha"])

    job = wait_finished(created["jobIds"][0])

    assert job.status == "failed" and job.attempts == 1
    assert "24-hour" in job.last_error and job.message_id is None


def test_the_dispatcher_recovers_jobs_left_behind_by_a_restart(alpha, alpha_rules, smtp, celery_worker):
    """Pending rows with no Celery message (never handed over, message lost, worker died mid-run)."""
    rule = alpha_rules(trigger=unique_trigger(), **EMAIL_RULE)
    base = (timezone.now() + timedelta(days=1)).isoformat()
    ids = [
        fire(alpha, trigger=rule.trigger, phone=random_phone(), email=new_email(), variables=["A", "B"], baseTime=base)[
            "jobIds"
        ][0]
        for _ in range(4)
    ]
    now = timezone.now()
    never_handed_over, lost_message, died_running, entering_horizon = ids
    with schema_context("alpha"):
        # Beat and workers were down while these came due:
        WorkflowJob.objects.filter(pk=never_handed_over).update(
            due_at=now - timedelta(minutes=5), next_run_at=now - timedelta(minutes=5)
        )
        WorkflowJob.objects.filter(pk=lost_message).update(
            due_at=now - timedelta(minutes=2),
            next_run_at=now - timedelta(minutes=2),
            enqueued_at=now - timedelta(minutes=4),
        )
        WorkflowJob.objects.filter(pk=died_running).update(
            status="running", attempts=1, claimed_at=now - timedelta(minutes=10), claim_token=uuid.uuid4()
        )
        WorkflowJob.objects.filter(pk=entering_horizon).update(
            due_at=now + timedelta(seconds=3), next_run_at=now + timedelta(seconds=3)
        )

    workflow_dispatch_task.delay()  # what beat sends every 30 s, in the public schema

    jobs = [wait_finished(job_id) for job_id in ids]
    assert [j.status for j in jobs] == ["completed"] * 4
    assert jobs[2].attempts == 2 and "stopped" in jobs[2].last_error
    assert jobs[3].started_at >= jobs[3].due_at - timedelta(seconds=1)


def test_deactivating_a_rule_cancels_its_pending_jobs_when_they_come_due(alpha, alpha_rules, smtp, celery_worker):
    rule = alpha_rules(trigger=unique_trigger(), **EMAIL_RULE)
    created = fire(
        alpha, trigger=rule.trigger, phone=random_phone(), email=new_email(), variables=["A", "B"], delayMinutes=0.05
    )
    with schema_context("alpha"):
        type(rule).objects.filter(pk=rule.pk).update(is_active=False)
    job = wait_finished(created["jobIds"][0])
    assert job.status == "cancelled" and "deactivated" in job.last_error
