"""What the leads pages show of workflows (``workflows.lead_timeline`` through ``leads.hooks``):
each appointment's reminder plan in the agenda, re-planned when the appointment is booked,
moved and cancelled from the dashboard, and the workflow messages in the lead's timeline."""

import uuid
from datetime import datetime, time, timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from leads import hooks
from leads.models import Appointment
from leads.services import lead_create
from leads.tests.factories import unique_mobile
from tenants.selectors import tenant_timezone
from tests.tenancy import tenant_client
from workflows.choices import JobStatus
from workflows.lead_timeline import appointment_plans, lead_workflow_entries
from workflows.models import WorkflowJob
from workflows.services.lead_triggers import appointment_workflows_fire
from workflows.tests.support import make_workflow


def test_workflows_fill_the_leads_hooks():
    assert hooks.lead_timeline_entries is lead_workflow_entries
    assert hooks.appointment_messages is appointment_plans


def test_the_agenda_shows_the_reminder_plan_as_it_is_booked_moved_and_cancelled(alpha, db):
    client = tenant_client(alpha, login=True)
    with schema_context("alpha"):
        tz = tenant_timezone()
        make_workflow(name="Confirm", trigger="appointment_confirmed", template_name="confirm_v1")
        make_workflow(name="Remind", trigger="appointment_reminder", template_name="remind_v1", delay_minutes=-60)
        make_workflow(name="Moved", trigger="appointment_rescheduled", template_name="moved_v1")
        make_workflow(name="Cancelled", trigger="appointment_cancelled", template_name="cancel_v1")
        lead = lead_create(source="manual", actor="t", fields={"name": "Asha", "phone": unique_mobile()})
    day = timezone.now().astimezone(tz).date() + timedelta(days=2)
    start = datetime.combine(day, time(10, 0), tzinfo=tz)
    booked = client.post(f"/leads/{lead.pk}/book/", {"start": f"{day}T10:00", "duration": "30", "title": "Demo"})
    assert booked.status_code == 302
    with schema_context("alpha"):
        appointment = Appointment.objects.get(lead=lead)
        # The event's task, run here (on_commit does not fire inside a test transaction).
        appointment_workflows_fire(appointment_id=appointment.pk, event="booked")
        reminder = WorkflowJob.objects.get(module_id=f"appointment:{appointment.pk}", trigger="appointment_reminder")
        assert reminder.due_at == start - timedelta(minutes=60)

    html = client.get("/appointments/", {"view": "day", "date": day.isoformat()}).content.decode()
    assert "Messages to the customer" in html
    assert "<strong>Reminder</strong>" in html and "<strong>Confirmation</strong>" in html
    assert f'datetime="{(start - timedelta(minutes=60)).isoformat()}"' in html

    moved = client.post(
        f"/appointments/{appointment.pk}/reschedule/", {"start": f"{day}T15:00", "duration": "30", "view": "day"}
    )
    assert moved.status_code == 302
    with schema_context("alpha"):
        appointment.refresh_from_db()
        appointment_workflows_fire(appointment_id=appointment.pk, event="rescheduled", stamp="moved-1")
        reminder.refresh_from_db()
        assert reminder.status == JobStatus.PENDING
        assert reminder.due_at == datetime.combine(day, time(14, 0), tzinfo=tz)
    html = client.get("/appointments/", {"view": "day", "date": day.isoformat()}).content.decode()
    assert "<strong>New time</strong>" in html  # the customer is told through the tenant's rule
    new_reminder = datetime.combine(day, time(14, 0), tzinfo=tz).astimezone(reminder.due_at.tzinfo)
    assert f'datetime="{new_reminder.isoformat()}"' in html

    cancelled = client.post(f"/appointments/{appointment.pk}/cancel/", {"reason": "ill", "view": "day"})
    assert cancelled.status_code == 302
    with schema_context("alpha"):
        appointment_workflows_fire(appointment_id=appointment.pk, event="cancelled")
        plan = {m.trigger: m for m in hooks.appointment_messages([appointment.pk])[appointment.pk]}
        assert plan["appointment_reminder"].status == JobStatus.CANCELLED
        assert plan["appointment_reminder"].status_label == "Cancelled"
        assert plan["appointment_cancelled"].status_label == "Scheduled"

    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Workflow triggered: Appointment reminder (Remind)" in page
    assert "Workflow triggered: Appointment cancelled (Cancelled)" in page
    assert "timeline__item--workflow" in page


def test_the_timeline_shows_trigger_api_messages_for_the_leads_phone(in_alpha):
    from workflows.services.triggers import workflow_trigger_fire

    phone = unique_mobile()
    make_workflow(name="Purchase thanks", trigger="product_purchased", template_name="thanks_v1")
    lead = lead_create(source="manual", actor="t", fields={"name": "Bilal", "phone": phone})
    other = lead_create(source="manual", actor="t", fields={"name": "Other", "phone": unique_mobile()})
    workflow_trigger_fire(trigger="product_purchased", phone=phone, variables=[], idempotency_key=uuid.uuid4().hex)
    entries = lead_workflow_entries(lead)
    assert [e.title for e in entries] == ["Workflow triggered: Product purchased (Purchase thanks)"]
    assert entries[0].kind == "workflow" and "scheduled" in entries[0].body
    assert lead_workflow_entries(other) == []
    assert appointment_plans([]) == {}
