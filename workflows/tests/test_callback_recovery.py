"""A workflow callback whose Celery message was lost (Redis restarted, worker killed mid-PUT)
is found again from the database by the dispatcher beat runs, and delivered (issue 13 §2)."""

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from tests.support import wait_for
from workflows.choices import CallbackState
from workflows.models import WorkflowJob
from workflows.tasks import workflow_dispatch_task
from workflows.tests.support import random_phone, unique_trigger
from workflows.tests.test_execution import EMAIL_RULE, fire, get_job, new_email


def test_callbacks_lost_with_the_broker_or_their_worker_are_delivered_by_the_dispatcher(
    alpha, alpha_rules, smtp, celery_worker, httpserver
):
    httpserver.expect_request("/api/workflows/callback", method="PUT").respond_with_json({"success": True})
    rule = alpha_rules(trigger=unique_trigger(), **EMAIL_RULE)
    ids = [
        fire(
            alpha,
            trigger=rule.trigger,
            phone=random_phone(),
            email=new_email(),
            variables=["A", "B"],
            callbackUrl=httpserver.url_for("/api/workflows/callback"),
        )["jobIds"][0]
        for _ in range(2)
    ]
    for job_id in ids:
        wait_for(lambda job_id=job_id: get_job(job_id).callback_state == CallbackState.DELIVERED, timeout=60)
    puts_before = len(httpserver.log)

    lost_message, died_mid_put = ids
    long_ago = timezone.now() - timedelta(minutes=10)
    with schema_context("alpha"):
        # The callback was due when Redis went down: its task is gone, the row still owes it.
        WorkflowJob.objects.filter(pk=lost_message).update(
            callback_state=CallbackState.PENDING, callback_next_attempt_at=long_ago, callback_delivered_at=None
        )
        # The worker was killed during the PUT: the claim stays "delivering".
        WorkflowJob.objects.filter(pk=died_mid_put).update(
            callback_state=CallbackState.DELIVERING, callback_claimed_at=long_ago, callback_delivered_at=None
        )

    workflow_dispatch_task.delay()  # what beat sends every 30 s, in the public schema

    for job_id in ids:
        job = wait_for(
            lambda job_id=job_id: (j := get_job(job_id)).callback_state == CallbackState.DELIVERED and j,
            timeout=60,
            what="the recovered callback to be delivered",
        )
        assert job.callback_delivered_at is not None
    assert len(httpserver.log) == puts_before + 2
