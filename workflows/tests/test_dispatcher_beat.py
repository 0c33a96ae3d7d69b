"""The dispatcher as registered with django-celery-beat, run by a real beat process."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_tenants.utils import schema_context

from tests.support import PYTHON, start_process, stop_process, subprocess_env, wait_for
from workflows.models import WorkflowJob
from workflows.services import workflow_periodic_tasks_ensure
from workflows.services.dispatch import DISPATCH_TASK_NAME, PERIODIC_TASK_NAME
from workflows.tests.support import random_phone, unique_trigger


@pytest.mark.django_db
def test_registering_the_dispatcher_is_idempotent():
    workflow_periodic_tasks_ensure()
    PeriodicTask.objects.filter(name=PERIODIC_TASK_NAME).update(enabled=False)
    workflow_periodic_tasks_ensure()
    workflow_periodic_tasks_ensure()
    [task] = PeriodicTask.objects.filter(name=PERIODIC_TASK_NAME)
    assert task.task == DISPATCH_TASK_NAME and task.enabled
    assert task.interval.every == 30 and task.interval.period == "seconds"


@pytest.mark.worker
def test_a_beat_process_recovers_a_job_left_pending(alpha, alpha_rules, smtp, celery_worker):
    from workflows.services import workflow_trigger_fire

    rule = alpha_rules(
        trigger=unique_trigger(),
        channel="email",
        template_name="",
        email_subject="Hi",
        body="Reminder",
        delay_minutes=60,
    )
    with schema_context("alpha"):
        job_id = workflow_trigger_fire(trigger=rule.trigger, phone=random_phone(), email="beat@example.com").jobs[0].pk
        # Nothing ran while it came due: no Celery message exists for it.
        past = timezone.now() - timedelta(minutes=1)
        WorkflowJob.objects.filter(pk=job_id).update(due_at=past, next_run_at=past, enqueued_at=None)
    workflow_periodic_tasks_ensure()
    # Due at once on beat's start rather than 30 s later.
    PeriodicTask.objects.filter(name=PERIODIC_TASK_NAME).update(last_run_at=timezone.now() - timedelta(hours=1))

    beat = start_process(
        [PYTHON, "-m", "celery", "-A", "bizmitra", "beat", "-l", "info"], log_name="celery-beat", env=subprocess_env()
    )
    try:
        with schema_context("alpha"):
            job = wait_for(
                lambda: (j := WorkflowJob.objects.get(pk=job_id)).status == "completed" and j,
                timeout=90,
                what="beat's dispatcher to hand the job to the worker",
            )
    finally:
        stop_process(beat)
    assert job.attempts == 1 and job.enqueued_at is not None
    assert smtp.to("beat@example.com")
