"""Workflows that send one of the tenant's own templates (``templates`` app), picked by key.

The job's message is rendered when the trigger fires, by ``templates.rendering`` from the
trigger variables (a list fills ``{{1}}``, ``{{2}}`` …), the contact and their lead. These
tests stop at the outbound queue (the ``db`` fixture never commits, so nothing is enqueued).
"""

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.models import Contact, Conversation, Message
from templates.choices import ParameterFormat, TemplateKind
from templates.models import MessageTemplate
from workflows.choices import JobStatus
from workflows.models import CommunicationWorkflow
from workflows.services import workflow_job_execute
from workflows.services.rules import workflow_errors
from workflows.tests.support import client_headers, random_phone, unique_trigger

pytestmark = pytest.mark.django_db


def api_key_client(onboarding) -> Client:
    return Client(HTTP_HOST=onboarding.domain.domain, HTTP_AUTHORIZATION=f"Bearer {onboarding.api_key.raw_key}")


def text_template(**fields) -> MessageTemplate:
    defaults = {
        "name": f"Slot confirmed {uuid.uuid4().hex[:6]}",
        "kind": TemplateKind.TEXT,
        "body": "Hi {{first_name}}, your slot is {{1}} with {{2}}.",
    }
    defaults.update(fields)
    return MessageTemplate.objects.create(**defaults)


def contact_in_window(phone: str, *, profile_name: str = "Ravi Kumar") -> Contact:
    contact = Contact.objects.create(
        wa_id=phone.lstrip("+"), profile_name=profile_name, last_inbound_at=timezone.now() - timedelta(minutes=5)
    )
    Conversation.objects.create(contact=contact, phone_number_id="106540352242922")
    return contact


def rule_errors(**overrides) -> dict:
    values = {
        "channel": "whatsapp",
        "template_name": "",
        "body": "",
        "email_subject": "",
        "tenant_template_id": None,
        "parameter_mapping": {},
    }
    values.update(overrides)
    return workflow_errors(**values)


class TestValidation:
    def test_a_sendable_whatsapp_template_of_this_tenant_is_accepted(self, in_alpha):
        template = text_template()
        assert rule_errors(tenant_template_id=template.pk) == {}

    def test_unknown_inactive_unapproved_email_or_mixed_are_refused(self, in_alpha):
        template = text_template()
        assert "tenant_template_id" in rule_errors(tenant_template_id=template.pk + 10_000)
        assert "tenant_template_id" in rule_errors(tenant_template_id=template.pk, body="also a body")
        assert "tenant_template_id" in rule_errors(
            tenant_template_id=template.pk, channel="email", body="x", email_subject="y"
        )
        inactive = text_template(is_active=False)
        assert "tenant_template_id" in rule_errors(tenant_template_id=inactive.pk)
        pending = text_template(kind=TemplateKind.META_TEMPLATE, meta_name="promo_x", meta_status="PENDING")
        assert "tenant_template_id" in rule_errors(tenant_template_id=pending.pk)


class TestApi:
    def test_a_rule_picks_a_tenant_template_by_key(self, alpha):
        with schema_context("alpha"):
            template = text_template()
        client = api_key_client(alpha)
        body = {"name": "Slot", "trigger": unique_trigger(), "channel": "whatsapp", "template_key": template.key}
        created = client.post("/api/workflows/", body, content_type="application/json")
        assert created.status_code == 201, created.json()
        assert created.json()["template_key"] == template.key
        assert created.json()["tenant_template_id"] == template.pk
        assert client.get(f"/api/workflows/{created.json()['id']}/").json()["template_key"] == template.key

        cleared = client.patch(
            f"/api/workflows/{created.json()['id']}/",
            {"template_key": None, "template_name": "slot_v1"},
            content_type="application/json",
        )
        assert cleared.status_code == 200, cleared.json()
        assert (cleared.json()["template_key"], cleared.json()["tenant_template_id"]) == (None, None)

    def test_an_unknown_or_another_tenants_key_is_422(self, alpha, beta):
        with schema_context("beta"):
            theirs = text_template()
        client = api_key_client(alpha)
        for key in ("tmpl_nothere", theirs.key):
            body = {"name": "Slot", "trigger": unique_trigger(), "channel": "whatsapp", "template_key": key}
            response = client.post("/api/workflows/", body, content_type="application/json")
            assert response.status_code == 422, response.json()
            assert response.json()["error"] == "validation_error"
            assert "template_key" in response.json()["fields"]
        with schema_context("alpha"):
            assert not CommunicationWorkflow.objects.filter(name="Slot", tenant_template_id=theirs.pk).exists()

    def test_an_inactive_template_is_422_naming_the_key(self, alpha):
        with schema_context("alpha"):
            template = text_template(is_active=False)
        body = {"name": "Slot", "trigger": unique_trigger(), "channel": "whatsapp", "template_key": template.key}
        response = api_key_client(alpha).post("/api/workflows/", body, content_type="application/json")
        assert response.status_code == 422
        assert "template_key" in response.json()["fields"]


class TestEndToEnd:
    def test_a_trigger_queues_the_rendered_tenant_template(self, alpha):
        phone = random_phone()
        trigger = unique_trigger()
        with schema_context("alpha"):
            contact_in_window(phone)
            template = text_template()
            CommunicationWorkflow.objects.create(
                name="Slot", trigger=trigger, channel="whatsapp", tenant_template_id=template.pk
            )
        response = Client(HTTP_HOST=f"site-{uuid.uuid4().hex[:8]}.example").post(
            "/api/workflows/trigger",
            data=json.dumps({"trigger": trigger, "phone": phone, "variables": ["10 AM", "Dr. Rao"]}),
            content_type="application/json",
            **client_headers(alpha),
        )
        assert response.status_code == 202, response.json()
        (job_id,) = response.json()["jobIds"]

        with schema_context("alpha"):
            outcome = workflow_job_execute(job_id=job_id)
            assert outcome.status == JobStatus.COMPLETED, outcome.error
            message = Message.objects.get(pk=outcome.message_id)
            assert message.idempotency_key == f"wfjob:{job_id}"
            assert (message.type, message.status) == ("text", "queued")
            assert message.body == "Hi Ravi, your slot is 10 AM with Dr. Rao."
            assert message.conversation.contact.wa_id == phone.lstrip("+")

    def test_a_meta_tenant_template_gets_positional_parameters_and_goes_to_new_contacts(self, in_alpha):
        from workflows.services import workflow_trigger_fire

        phone = random_phone()  # nobody wrote from it: only an approved Meta template may go
        template = text_template(
            kind=TemplateKind.META_TEMPLATE,
            body="",
            meta_name=f"slot_{uuid.uuid4().hex[:8]}",
            meta_language="en",
            meta_status="APPROVED",
            meta_parameter_format=ParameterFormat.POSITIONAL,
            meta_components=[{"type": "BODY", "text": "Your slot is {{1}} with {{2}}."}],
        )
        rule = CommunicationWorkflow.objects.create(
            name="Slot", trigger=unique_trigger(), channel="whatsapp", tenant_template_id=template.pk
        )
        (job,) = workflow_trigger_fire(trigger=rule.trigger, phone=phone, variables=["10 AM", "Dr. Rao"]).jobs

        outcome = workflow_job_execute(job_id=job.pk)
        assert outcome.status == JobStatus.COMPLETED, outcome.error
        message = Message.objects.get(pk=outcome.message_id)
        assert message.type == "template"
        assert message.payload["template"] == {
            "name": template.meta_name,
            "language": {"code": "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "10 AM"}, {"type": "text", "text": "Dr. Rao"}]}
            ],
        }

    def test_a_template_deactivated_before_the_trigger_refuses_it(self, in_alpha):
        from bizmitra.errors import ValidationFailed
        from workflows.services import workflow_trigger_fire

        template = text_template()
        rule = CommunicationWorkflow.objects.create(
            name="Slot", trigger=unique_trigger(), channel="whatsapp", tenant_template_id=template.pk
        )
        MessageTemplate.objects.filter(pk=template.pk).update(is_active=False)
        with pytest.raises(ValidationFailed) as refused:
            workflow_trigger_fire(trigger=rule.trigger, phone=random_phone(), variables=["10 AM"])
        assert "variables" in refused.value.fields
