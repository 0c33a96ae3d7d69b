"""A worker that starts runs the dispatcher at once: jobs left pending by a restart do not wait for beat."""

import uuid
from datetime import timedelta

import pytest
import redis
from celery.signals import worker_ready
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import schema_context

from bizmitra.queues import queues_arg
from tests.support import PYTHON, start_process, stop_process, subprocess_env, wait_for
from workflows.models import WorkflowJob
from workflows.services import workflow_trigger_fire
from workflows.tasks import dispatch_on_worker_ready
from workflows.tests.support import random_phone, unique_trigger


def test_the_dispatcher_is_connected_to_worker_ready():
    assert any(receiver is dispatch_on_worker_ready for _, receiver in worker_ready.receivers)


@pytest.mark.worker
def test_a_fresh_worker_recovers_a_job_left_pending_without_beat(alpha, alpha_rules, smtp, graph_sandbox, ai_server):
    rule = alpha_rules(
        trigger=unique_trigger(),
        channel="email",
        template_name="",
        email_subject="Hi",
        body="Reminder",
        delay_minutes=60,
    )
    email = f"restart-{uuid.uuid4().hex[:8]}@example.com"
    with schema_context("alpha"):
        job_id = workflow_trigger_fire(trigger=rule.trigger, phone=random_phone(), email=email).jobs[0].pk
        # It came due while every worker was down, and no Celery message exists for it.
        past = timezone.now() - timedelta(minutes=5)
        WorkflowJob.objects.filter(pk=job_id).update(due_at=past, next_run_at=past, enqueued_at=None)

    # A queue of its own: only this worker's startup can have handed the job over (no beat runs).
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-restart-{uuid.uuid4().hex[:8]}"
    env = subprocess_env(
        CELERY_TASK_DEFAULT_QUEUE=queue, WHATSAPP_GRAPH_URL=graph_sandbox.base_url, OPENAI_BASE_URL=ai_server.base_url
    )
    worker = start_process(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "bizmitra",
            "worker",
            "-Q",
            queues_arg(queue),
            "--concurrency=1",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{queue}@test",
        ],
        log_name="celery-worker-restart",
        env=env,
    )
    try:
        with schema_context("alpha"):
            job = wait_for(
                lambda: (
                    worker.poll() is not None or ((j := WorkflowJob.objects.get(pk=job_id)).status != "pending" and j)
                ),
                timeout=90,
                what="the fresh worker's startup dispatch to run the job",
            )
        assert worker.poll() is None, "the worker exited; see var/test-logs"
        with schema_context("alpha"):
            job = wait_for(
                lambda: (j := WorkflowJob.objects.get(pk=job_id)).status in ("completed", "failed") and j,
                timeout=60,
                what="the job to finish",
            )
        assert job.status == "completed", job.last_error
        assert len(smtp.to(email)) == 1
    finally:
        stop_process(worker)
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)
