"""appointment_cancelled / appointment_rescheduled act on the appointment's pending reminders."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from workflows.models import WorkflowJob
from workflows.services import workflow_trigger_fire
from workflows.tests.support import make_workflow, random_phone

pytestmark = pytest.mark.django_db


@pytest.fixture
def reminder_rules(in_alpha):
    return [
        make_workflow(trigger="appointment_reminder", name="1h", delay_minutes=-60),
        make_workflow(trigger="appointment_reminder", name="15m", delay_minutes=-15),
    ]


def book(*, module_id: str, appointment, phone: str, module_type: str = "Appointment"):
    return workflow_trigger_fire(
        trigger="appointment_reminder",
        phone=phone,
        base_time=appointment,
        callback_metadata={"moduleId": module_id, "moduleType": module_type},
    )


def test_cancelled_appointment_cancels_its_pending_reminders_only(reminder_rules):
    phone = random_phone()
    appointment = timezone.now() + timedelta(days=1)
    module_id = f"appt-{uuid.uuid4()}"
    mine = book(module_id=module_id, appointment=appointment, phone=phone)
    other = book(module_id=f"appt-{uuid.uuid4()}", appointment=appointment, phone=phone)

    result = workflow_trigger_fire(
        trigger="appointment_cancelled", phone=phone, callback_metadata={"moduleId": module_id}
    )

    assert sorted(result.response["cancelledJobIds"]) == sorted(mine.response["jobIds"])
    assert set(WorkflowJob.objects.filter(pk__in=mine.response["jobIds"]).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert set(WorkflowJob.objects.filter(pk__in=other.response["jobIds"]).values_list("status", flat=True)) == {
        "pending"
    }


def test_module_type_narrows_the_match(reminder_rules):
    module_id = f"42-{uuid.uuid4().hex[:6]}"
    booking = book(module_id=module_id, appointment=timezone.now() + timedelta(days=1), phone=random_phone())
    result = workflow_trigger_fire(
        trigger="appointment_cancelled",
        phone=random_phone(),
        callback_metadata={"moduleId": module_id, "moduleType": "Order"},
    )
    assert result.response["cancelledJobIds"] == []
    assert WorkflowJob.objects.filter(pk__in=booking.response["jobIds"], status="pending").count() == 2


def test_rescheduled_appointment_moves_its_reminders(reminder_rules):
    module_id = f"appt-{uuid.uuid4()}"
    phone = random_phone()
    booking = book(module_id=module_id, appointment=timezone.now() + timedelta(days=1), phone=phone)
    new_time = timezone.now() + timedelta(days=3)

    result = workflow_trigger_fire(
        trigger="appointment_rescheduled",
        phone=phone,
        base_time=new_time,
        callback_metadata={"moduleId": module_id, "moduleType": "Appointment"},
    )

    assert sorted(result.response["rescheduledJobIds"]) == sorted(booking.response["jobIds"])
    due = sorted(WorkflowJob.objects.filter(pk__in=booking.response["jobIds"]).values_list("due_at", flat=True))
    assert due == [new_time - timedelta(minutes=60), new_time - timedelta(minutes=15)]


def test_reminder_whose_new_time_has_passed_is_cancelled(reminder_rules):
    module_id = f"appt-{uuid.uuid4()}"
    phone = random_phone()
    book(module_id=module_id, appointment=timezone.now() + timedelta(days=1), phone=phone)
    soon = timezone.now() + timedelta(minutes=30)  # the 1 h reminder is moot, the 15 min one moves

    result = workflow_trigger_fire(
        trigger="appointment_rescheduled", phone=phone, base_time=soon, callback_metadata={"moduleId": module_id}
    )

    assert len(result.response["cancelledJobIds"]) == 1 and len(result.response["rescheduledJobIds"]) == 1
    moved = WorkflowJob.objects.get(pk=result.response["rescheduledJobIds"][0])
    assert moved.due_at == soon - timedelta(minutes=15) and moved.status == "pending"
    assert moved.enqueued_at is None  # 15 min away: beyond the hand-off horizon


def test_rescheduling_needs_the_new_time(reminder_rules):
    from bizmitra.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        workflow_trigger_fire(
            trigger="appointment_rescheduled", phone=random_phone(), callback_metadata={"moduleId": "x"}
        )
    assert "base_time" in caught.value.fields


def test_running_or_finished_jobs_are_left_alone(reminder_rules):
    module_id = f"appt-{uuid.uuid4()}"
    booking = book(module_id=module_id, appointment=timezone.now() + timedelta(days=1), phone=random_phone())
    first, second = booking.response["jobIds"]
    WorkflowJob.objects.filter(pk=first).update(status="running")
    result = workflow_trigger_fire(
        trigger="appointment_cancelled", phone=random_phone(), callback_metadata={"moduleId": module_id}
    )
    assert result.response["cancelledJobIds"] == [second]
    with schema_context("alpha"):
        assert WorkflowJob.objects.get(pk=first).status == "running"
