"""Opt-out binds every sender: after "stop" only the engine's confirmations reach the contact.

The engine's side (``stop`` → confirmation, silence, ``start`` → welcome back) is driven end
to end in test_engine.py; here the other senders, which all go through ``message_send``.
These tests stop at the queue (the ``db`` fixture never commits, so nothing is enqueued).
"""

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.models import Contact, Conversation, Message
from conversations.services.outbound import OptedOut, message_send
from workflows.choices import JobStatus
from workflows.services import workflow_trigger_fire
from workflows.services.jobs import workflow_job_execute
from workflows.tests.support import make_workflow

TEMPLATE = {"name": "offer_of_the_day", "language": {"code": "en_US"}}


def unique_phone() -> str:
    return f"+9198{uuid.uuid4().int % 10**8:08d}"


def opted_out_contact(onboarding, phone: str) -> Contact:
    with schema_context(onboarding.tenant.schema_name):
        contact = Contact.objects.create(
            wa_id=phone.lstrip("+"),
            last_inbound_at=timezone.now() - timedelta(minutes=5),
            opted_out_at=timezone.now() - timedelta(minutes=1),
        )
        Conversation.objects.create(contact=contact, phone_number_id=onboarding.phone_number.phone_number_id)
        return contact


@pytest.mark.django_db
def test_the_send_api_refuses_an_opted_out_contact_with_422(alpha):
    phone = unique_phone()
    contact = opted_out_contact(alpha, phone)
    client = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")
    for body in (
        {"to": phone, "type": "text", "text": "Hello"},
        {"to": phone, "type": "template", "template": TEMPLATE},
    ):
        response = client.post("/api/messages/", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 422, response.content
        assert response.json()["error"] == "opted_out"
        assert "opted out" in response.json()["message"]
    with schema_context("alpha"):
        assert not Message.objects.filter(conversation__contact=contact).exists()


def test_only_a_confirmation_passes_and_opting_in_lifts_the_block(in_alpha, alpha):
    phone = unique_phone()
    contact = opted_out_contact(alpha, phone)
    with pytest.raises(OptedOut):
        message_send(to=phone, type="template", content=TEMPLATE)

    confirmation = message_send(to=phone, type="text", content="You are unsubscribed.", allow_opted_out=True)
    assert confirmation.conversation.contact_id == contact.pk

    Contact.objects.filter(pk=contact.pk).update(opted_out_at=None)
    assert message_send(to=phone, type="template", content=TEMPLATE).status == "queued"


def test_a_stale_contact_instance_does_not_bypass_the_opt_out(in_alpha, alpha):
    # The caller loaded the conversation before the contact said "stop" (a workflow job racing the engine).
    phone = unique_phone()
    contact = opted_out_contact(alpha, phone)
    Contact.objects.filter(pk=contact.pk).update(opted_out_at=None)
    conversation = Conversation.objects.select_related("contact").get(contact=contact)
    Contact.objects.filter(pk=contact.pk).update(opted_out_at=timezone.now())
    with pytest.raises(OptedOut):
        message_send(to=phone, type="template", content=TEMPLATE, conversation=conversation)


def test_a_workflow_job_for_an_opted_out_contact_fails_without_retry(in_alpha, alpha):
    phone = unique_phone()
    opted_out_contact(alpha, phone)
    rule = make_workflow(template_name="offer_of_the_day", max_attempts=3)
    result = workflow_trigger_fire(trigger=rule.trigger, phone=phone, variables=[])
    (job,) = result.jobs

    outcome = workflow_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert outcome.status == JobStatus.FAILED
    assert (job.status, job.attempts, job.message_id) == (JobStatus.FAILED, 1, None)
    assert "opted out" in job.last_error
    assert not Message.objects.filter(idempotency_key=f"wfjob:{job.pk}").exists()


def test_a_lead_follow_up_to_an_opted_out_contact_fails_with_the_reason(in_alpha, alpha):
    from leads.choices import FollowUpState
    from leads.models import LeadSettings
    from leads.services import lead_capture
    from leads.services.follow_ups import lead_follow_up_send

    phone = unique_phone()
    contact = opted_out_contact(alpha, phone)
    settings, _ = LeadSettings.objects.get_or_create(pk=1)
    settings.follow_up_template_name = "follow_up_v1"
    settings.save()
    lead = lead_capture(contact=contact, fields={"name": "Asha"}, source="whatsapp", actor="t")
    type(lead).objects.filter(pk=lead.pk).update(
        follow_up_at=timezone.now() - timedelta(minutes=1), follow_up_state=FollowUpState.SCHEDULED
    )

    assert lead_follow_up_send(lead_id=lead.pk) == "failed"
    lead.refresh_from_db()
    assert lead.follow_up_state == FollowUpState.FAILED
    assert "opted out" in lead.follow_up_error
