"""The workflows a lead sets off (``workflows.services.lead_triggers``): ``lead_captured`` when
it is created, the reminder workflows when it books; unit-level here, then through the real
events and a real worker."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from bizmitra import events
from conversations.models import Contact
from leads.models import Appointment, Lead
from leads.services import appointment_book, appointment_cancel, appointment_reschedule, lead_capture, lead_create
from leads.tests.factories import make_contact, unique_mobile
from tests.support import wait_for
from workflows.choices import JobStatus
from workflows.listeners import start_appointment_workflows, start_lead_captured_workflows
from workflows.models import CommunicationWorkflow, WorkflowJob, WorkflowTrigger
from workflows.services.lead_triggers import appointment_workflows_fire, lead_captured_workflows_fire


def lead_captured_rule(**fields) -> CommunicationWorkflow:
    defaults = {
        "name": f"Welcome {uuid.uuid4().hex[:6]}",
        "trigger": "lead_captured",
        "template_name": "welcome_lead_v1",
        "language": "en",
        "parameter_mapping": {"body": ["name", "product_interest"]},
    }
    defaults.update(fields)
    return CommunicationWorkflow.objects.create(**defaults)


class TestLeadCaptured:
    def test_the_listener_is_registered_for_lead_creation(self):
        assert start_lead_captured_workflows in events._listeners["lead.created"]

    def test_a_new_lead_schedules_the_lead_captured_rules_once(self, in_alpha):
        rule = lead_captured_rule()
        contact = make_contact()
        lead = lead_capture(
            contact=contact, fields={"name": "Asha Rao", "product_interest": "Demo"}, source="whatsapp", actor="t"
        )

        trigger_id = lead_captured_workflows_fire(lead_id=lead.pk)
        assert trigger_id is not None
        assert lead_captured_workflows_fire(lead_id=lead.pk) is None  # a redelivered event
        job = WorkflowJob.objects.get(workflow=rule)
        assert job.trigger_event_id == trigger_id
        assert job.recipient_phone == f"+{contact.wa_id}"
        assert job.conversation_id == contact.conversation.pk
        assert job.module_id == f"lead:{lead.pk}"
        parameters = job.content["template"]["components"][0]["parameters"]
        assert [p["text"] for p in parameters] == ["Asha Rao", "Demo"]

    def test_a_website_lead_is_addressed_by_its_phone(self, in_alpha):
        rule = lead_captured_rule()
        phone = unique_mobile()
        lead = lead_create(source="website", actor="t", fields={"name": "Ravi", "phone": phone})
        assert lead_captured_workflows_fire(lead_id=lead.pk) is not None
        assert WorkflowJob.objects.get(workflow=rule).recipient_phone == phone

    def test_a_lead_without_a_phone_or_without_rules_fires_nothing(self, in_alpha):
        no_phone = lead_create(source="manual", actor="t", fields={"name": "Mail only", "email": "m@example.com"})
        without_rules = lead_create(source="website", actor="t", fields={"phone": unique_mobile()})
        assert lead_captured_workflows_fire(lead_id=without_rules.pk) is None
        lead_captured_rule()
        assert lead_captured_workflows_fire(lead_id=no_phone.pk) is None
        assert not WorkflowTrigger.objects.filter(trigger="lead_captured").exists()


@pytest.mark.worker
def test_creating_a_lead_and_booking_fire_their_workflows_through_the_worker(alpha, live_db, celery_worker):
    """lead.created → lead_captured job; appointment.booked → appointment_confirmed job (issue 5, point 10)."""
    schema = alpha.tenant.schema_name
    with schema_context(schema):
        # Far enough ahead to stay pending: this test is about scheduling, not sending.
        welcome = lead_captured_rule(delay_minutes=600)
        confirmation = CommunicationWorkflow.objects.create(
            name="Booking confirmed",
            trigger="appointment_confirmed",
            template_name="appointment_confirmed_v1",
            language="en",
            parameter_mapping={"body": ["name", "date", "time"]},
            delay_minutes=600,
        )
        contact = make_contact(profile_name="Asha")
    try:
        with schema_context(schema):
            lead = lead_capture(contact=contact, fields={"name": "Asha"}, source="whatsapp", actor="t")
            welcome_job = wait_for(
                lambda: WorkflowJob.objects.filter(workflow=welcome).first(),
                timeout=60,
                what="the lead_captured job",
            )
            assert welcome_job.recipient_phone == f"+{contact.wa_id}" and welcome_job.status == "pending"

            start = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
            appointment = appointment_book(lead=lead, start_at=start, actor="t")
            job = wait_for(
                lambda: WorkflowJob.objects.filter(workflow=confirmation).first(),
                timeout=60,
                what="the appointment_confirmed job",
            )
            assert job.trigger == "appointment_confirmed"
            assert job.module_id == f"appointment:{appointment.pk}"
            assert job.recipient_phone == f"+{contact.wa_id}"
            assert job.content["template"]["components"][0]["parameters"][0]["text"] == "Asha"
    finally:
        with schema_context(schema):
            rules = [welcome.pk, confirmation.pk]
            trigger_ids = list(
                WorkflowJob.objects.filter(workflow_id__in=rules).values_list("trigger_event", flat=True)
            )
            WorkflowJob.objects.filter(workflow_id__in=rules).delete()
            WorkflowTrigger.objects.filter(pk__in=trigger_ids).delete()
            CommunicationWorkflow.objects.filter(pk__in=rules).delete()
            Appointment.objects.filter(contact=contact).delete()
            Lead.objects.filter(contact=contact).delete()
            Contact.objects.filter(pk=contact.pk).delete()


class TestReminderWorkflows:
    def test_listener_is_registered_for_appointment_events(self):
        for name in ("appointment.booked", "appointment.rescheduled", "appointment.cancelled"):
            assert start_appointment_workflows in events._listeners[name]

    def test_booking_schedules_reminders_that_follow_the_appointment(self, in_alpha):
        reminder = CommunicationWorkflow.objects.create(
            name="1 h before",
            trigger="appointment_reminder",
            template_name="appointment_reminder_v1",
            language="en",
            parameter_mapping={"body": ["name", "time"]},
            delay_minutes=-60,
        )
        lead = lead_capture(contact=make_contact(), fields={"name": "Asha"}, source="whatsapp", actor="t")
        start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
        appointment = appointment_book(lead=lead, start_at=start, actor="t")

        appointment_workflows_fire(appointment_id=appointment.pk, event="booked")
        appointment_workflows_fire(appointment_id=appointment.pk, event="booked")  # a redelivered task
        job = WorkflowJob.objects.get(workflow=reminder)
        assert job.module_id == f"appointment:{appointment.pk}"
        assert job.due_at == start - timedelta(minutes=60)
        assert job.recipient_phone == f"+{lead.contact.wa_id}"
        assert job.content["template"]["components"][0]["parameters"][0]["text"] == "Asha"

        later = start + timedelta(hours=5)
        appointment = appointment_reschedule(appointment=appointment, start_at=later, actor="t")
        appointment_workflows_fire(appointment_id=appointment.pk, event="rescheduled", stamp="1")
        job.refresh_from_db()
        assert job.due_at == later - timedelta(minutes=60) and job.status == JobStatus.PENDING

        appointment_cancel(appointment=appointment, actor="t")
        appointment_workflows_fire(appointment_id=appointment.pk, event="cancelled")
        job.refresh_from_db()
        assert job.status == JobStatus.CANCELLED

    def test_a_booking_cancelled_before_its_task_ran_schedules_nothing(self, in_alpha):
        CommunicationWorkflow.objects.create(
            name="Reminder", trigger="appointment_reminder", template_name="r", language="en", delay_minutes=-30
        )
        lead = lead_capture(contact=make_contact(), fields={}, source="whatsapp", actor="t")
        appointment = appointment_book(lead=lead, start_at=timezone.now() + timedelta(days=1), actor="t")
        appointment_cancel(appointment=appointment, actor="t")
        assert appointment_workflows_fire(appointment_id=appointment.pk, event="booked") == []
        assert not WorkflowJob.objects.filter(module_id=f"appointment:{appointment.pk}").exists()
