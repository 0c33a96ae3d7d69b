"""Which rows the dispatcher picks: entering the horizon, lost, or stuck running."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from workflows.models import WorkflowJob
from workflows.services import workflow_trigger_fire
from workflows.services.dispatch import _handover_batch, _recover_running
from workflows.tests.support import make_workflow, random_phone

pytestmark = pytest.mark.django_db


@pytest.fixture
def job_factory(in_alpha):
    rule = make_workflow(delay_minutes=60 * 24)

    def create(**changes) -> WorkflowJob:
        job = workflow_trigger_fire(trigger=rule.trigger, phone=random_phone()).jobs[0]
        WorkflowJob.objects.filter(pk=job.pk).update(**changes)
        return WorkflowJob.objects.get(pk=job.pk)

    return create


def picked(now) -> set:
    return {pk for pk, _ in _handover_batch(now=now, horizon=120, grace=30)}


def test_hands_over_jobs_entering_the_horizon_once(job_factory):
    now = timezone.now()
    soon = job_factory(next_run_at=now + timedelta(seconds=90))
    later = job_factory(next_run_at=now + timedelta(minutes=10))
    assert soon.pk in picked(now) and later.pk not in picked(now)
    # Handed over now; the next pass leaves it to the ETA message it already has.
    assert soon.pk not in picked(now + timedelta(seconds=30))


def test_re_sends_overdue_jobs_whose_message_was_lost(job_factory):
    now = timezone.now()
    lost = job_factory(next_run_at=now - timedelta(seconds=60), enqueued_at=now - timedelta(seconds=180))
    just_due = job_factory(next_run_at=now - timedelta(seconds=2), enqueued_at=now - timedelta(seconds=100))
    cancelled = job_factory(next_run_at=now - timedelta(seconds=60), status="cancelled")
    chosen = picked(now)
    assert lost.pk in chosen and just_due.pk not in chosen and cancelled.pk not in chosen


def test_stuck_running_jobs_go_back_to_pending_or_fail_when_attempts_are_used(job_factory):
    now = timezone.now()
    old = now - timedelta(minutes=10)
    retry = job_factory(status="running", attempts=1, claimed_at=old, claim_token=uuid.uuid4())
    used_up = job_factory(
        status="running", attempts=3, claimed_at=old, claim_token=uuid.uuid4(), callback_url="https://c.example/cb"
    )
    fresh = job_factory(status="running", attempts=1, claimed_at=now - timedelta(seconds=5), claim_token=uuid.uuid4())

    assert _recover_running(now=now, lease=300) == (1, [used_up.pk], [used_up.pk])

    retry.refresh_from_db()
    used_up.refresh_from_db()
    fresh.refresh_from_db()
    assert retry.status == "pending" and retry.next_run_at == now and retry.claim_token is None
    assert used_up.status == "failed" and used_up.callback_state == "pending"
    assert fresh.status == "running"
