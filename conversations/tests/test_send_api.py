"""``POST /api/messages/``: validation against Meta's limits, idempotency keys, the 24 h window.

These tests stop at the queue (the ``db`` fixture never commits, so no send task is
enqueued); test_outbound.py follows messages through a real worker to the Graph sandbox.
"""

import json
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.choices import Direction, MessageStatus
from conversations.models import Contact, Conversation, Message
from conversations.services.outbound import DuplicateMessage, message_send
from tests.tenancy import tenant_client


def api_client(onboarding) -> Client:
    return Client(HTTP_HOST=onboarding.domain.domain, HTTP_AUTHORIZATION=f"Bearer {onboarding.api_key.raw_key}")


def post(client: Client, body: dict):
    return client.post("/api/messages/", data=json.dumps(body), content_type="application/json")


def unique_phone() -> str:
    return f"+1555{uuid.uuid4().int % 10**7:07d}"


def contact_in_window(onboarding, phone: str, *, last_inbound_at=None) -> Contact:
    with schema_context(onboarding.tenant.schema_name):
        contact = Contact.objects.create(
            wa_id=phone.lstrip("+"), last_inbound_at=last_inbound_at or timezone.now() - timedelta(minutes=5)
        )
        Conversation.objects.create(contact=contact, phone_number_id=onboarding.phone_number.phone_number_id)
        return contact


def buttons(*titles: str) -> dict:
    return {
        "type": "button",
        "body": {"text": "Pick one"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": t}} for i, t in enumerate(titles)]},
    }


def list_of(rows: int, *, sections: int = 1, row_title: str = "Row") -> dict:
    per_section = max(rows // sections, 1)
    return {
        "type": "list",
        "body": {"text": "Choose"},
        "action": {
            "button": "Options",
            "sections": [
                {
                    "title": f"S{s}",
                    "rows": [{"id": f"r{s}-{r}", "title": row_title} for r in range(per_section)],
                }
                for s in range(sections)
            ],
        },
    }


TEMPLATE = {"name": "appointment_reminder", "language": {"code": "en_US"}, "components": []}


@pytest.mark.django_db
class TestQueueing:
    def test_text_is_queued_and_answered_202_with_the_message_id(self, alpha):
        phone = unique_phone()
        contact = contact_in_window(alpha, phone)
        response = post(api_client(alpha), {"to": phone, "type": "text", "text": "Hello"})
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["status"] == "queued"
        with schema_context("alpha"):
            message = Message.objects.get(pk=body["message_id"])
            assert message.direction == Direction.OUTBOUND
            assert message.status == MessageStatus.QUEUED
            assert message.conversation.contact_id == contact.pk
            assert message.body == "Hello"
            assert message.payload["text"] == {"body": "Hello"}
            assert message.payload["to"] == phone
            assert message.payload["biz_opaque_callback_data"] == f"bzm:{message.pk}"

    def test_a_signed_in_owner_sends_as_themselves(self, alpha):
        phone = unique_phone()
        contact_in_window(alpha, phone)
        response = post(tenant_client(alpha, login=True), {"to": phone, "type": "text", "text": "Hi"})
        assert response.status_code == 202, response.content
        with schema_context("alpha"):
            assert Message.objects.get(pk=response.json()["message_id"]).sent_by.email == alpha.owner_email

    def test_anonymous_callers_are_refused(self, alpha):
        response = post(Client(HTTP_HOST=alpha.domain.domain), {"to": unique_phone(), "type": "text", "text": "x"})
        assert response.status_code in (401, 403)

    def test_quoting_a_message_sends_metas_context(self, alpha):
        phone = unique_phone()
        contact_in_window(alpha, phone)
        response = post(
            api_client(alpha),
            {"to": phone, "type": "text", "text": "Yes", "context": {"message_id": "wamid.quoted"}},
        )
        assert response.status_code == 202, response.content
        with schema_context("alpha"):
            message = Message.objects.get(pk=response.json()["message_id"])
            assert message.payload["context"] == {"message_id": "wamid.quoted"}
            assert message.context_wamid == "wamid.quoted"


@pytest.mark.django_db
class TestValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"type": "text", "text": "x" * 4097}, "text.body"),
            ({"type": "text", "text": ""}, "text.body"),
            ({"type": "interactive", "interactive": buttons("A", "B", "C", "D")}, "interactive.action.buttons"),
            (
                {"type": "interactive", "interactive": buttons("A" * 21)},
                "interactive.action.buttons[0].reply.title",
            ),
            (
                {"type": "interactive", "interactive": buttons("Same", "Same")},
                "interactive.action.buttons[1].reply.title",
            ),
            ({"type": "interactive", "interactive": list_of(11)}, "interactive.action.sections"),
            ({"type": "interactive", "interactive": list_of(11, sections=11)}, "interactive.action.sections"),
            (
                {"type": "interactive", "interactive": list_of(2, row_title="R" * 25)},
                "interactive.action.sections[0].rows[0].title",
            ),
            ({"type": "template", "template": {**TEMPLATE, "name": "Bad Name"}}, "template.name"),
            ({"type": "image", "image": {"id": "1", "link": "https://example.com/a.png"}}, "image"),
            ({"type": "image", "image": {"link": "ftp://example.com/a.png"}}, "image.link"),
            (
                {"type": "document", "document": {"link": "https://example.com/a.pdf", "caption": "c" * 1025}},
                "document.caption",
            ),
        ],
        ids=[
            "text-too-long",
            "text-empty",
            "four-buttons",
            "button-title-21",
            "duplicate-button-titles",
            "eleven-rows",
            "eleven-sections",
            "row-title-25",
            "template-name",
            "media-id-and-link",
            "media-link-scheme",
            "caption-too-long",
        ],
    )
    def test_metas_limits_are_refused_with_422_naming_the_field(self, alpha, body, field):
        phone = unique_phone()
        contact_in_window(alpha, phone)
        response = post(api_client(alpha), {"to": phone, **body})
        assert response.status_code == 422, response.content
        error = response.json()
        assert error["error"] == "validation_error"
        assert field in error["fields"], error
        with schema_context("alpha"):
            assert not Message.objects.filter(conversation__contact__wa_id=phone.lstrip("+")).exists()

    def test_a_bad_recipient_is_refused(self, alpha):
        response = post(api_client(alpha), {"to": "12", "type": "text", "text": "Hi"})
        assert response.status_code == 422
        assert "to" in response.json()["fields"]

    def test_an_unknown_type_is_refused(self, alpha):
        response = post(api_client(alpha), {"to": unique_phone(), "type": "poll", "poll": {}})
        assert response.status_code == 422
        assert "type" in response.json()["fields"]

    def test_the_object_named_by_type_is_required(self, alpha):
        phone = unique_phone()
        contact_in_window(alpha, phone)
        response = post(api_client(alpha), {"to": phone, "type": "image"})
        assert response.status_code == 422
        assert response.json()["fields"] == {"image": ["This field is required."]}


@pytest.mark.django_db
class TestWindow:
    def test_text_outside_the_24_hour_window_is_refused_as_window_closed(self, alpha):
        phone = unique_phone()
        contact_in_window(alpha, phone, last_inbound_at=timezone.now() - timedelta(hours=24, minutes=1))
        response = post(api_client(alpha), {"to": phone, "type": "text", "text": "Still there?"})
        assert response.status_code == 422, response.content
        body = response.json()
        assert body["error"] == "window_closed"
        assert "type" in body["fields"]

    def test_nobody_who_never_wrote_can_get_free_form_messages(self, alpha):
        phone = unique_phone()
        response = post(api_client(alpha), {"to": phone, "type": "image", "image": {"link": "https://x.test/a.png"}})
        assert response.status_code == 422
        assert response.json()["error"] == "window_closed"
        with schema_context("alpha"):
            assert not Contact.objects.filter(wa_id=phone.lstrip("+")).exists()

    def test_a_template_may_go_outside_the_window_even_to_a_new_contact(self, alpha):
        phone = unique_phone()
        response = post(api_client(alpha), {"to": phone, "type": "template", "template": TEMPLATE})
        assert response.status_code == 202, response.content
        with schema_context("alpha"):
            message = Message.objects.select_related("conversation__contact").get(pk=response.json()["message_id"])
            assert message.conversation.contact.wa_id == phone.lstrip("+")
            assert message.conversation.phone_number_id == alpha.phone_number.phone_number_id
            assert message.payload["template"]["name"] == "appointment_reminder"


@pytest.mark.django_db
class TestIdempotency:
    def test_the_same_key_again_is_409_with_the_original_message_id(self, alpha):
        phone = unique_phone()
        contact_in_window(alpha, phone)
        client = api_client(alpha)
        key = f"order-{uuid.uuid4()}"
        first = post(client, {"to": phone, "type": "text", "text": "Your order shipped", "idempotency_key": key})
        assert first.status_code == 202, first.content
        again = post(client, {"to": phone, "type": "text", "text": "Your order shipped", "idempotency_key": key})
        assert again.status_code == 409, again.content
        body = again.json()
        assert body["error"] == "conflict"
        assert body["message_id"] == first.json()["message_id"]
        with schema_context("alpha"):
            assert Message.objects.filter(idempotency_key=key).count() == 1

    def test_keys_are_per_tenant(self, alpha, beta):
        key = f"shared-{uuid.uuid4()}"
        for onboarding in (alpha, beta):
            response = post(
                api_client(onboarding),
                {"to": unique_phone(), "type": "template", "template": TEMPLATE, "idempotency_key": key},
            )
            assert response.status_code == 202, response.content


def test_a_concurrent_insert_of_the_same_key_loses_to_the_unique_constraint(alpha, live_db):
    """The pre-check cannot see an uncommitted row; the unique index settles the race."""
    phone = unique_phone()
    contact_in_window(alpha, phone)
    key = f"reply:wamid.{uuid.uuid4().hex}"
    first_inserted, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def first():
        from django.db import transaction

        try:
            with schema_context("alpha"), transaction.atomic():
                results["first"] = message_send(to=phone, type="text", content="one", idempotency_key=key).pk
                first_inserted.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        try:
            with schema_context("alpha"):
                message_send(to=phone, type="text", content="two", idempotency_key=key)
                results["second"] = "sent twice"
        except DuplicateMessage as exc:
            results["second"] = exc.message_id
        finally:
            connection.close()

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_inserted.wait(10)
    t2 = threading.Thread(target=second)
    t2.start()
    # The second insert now waits on the first transaction's index entry.
    t2.join(0.3)
    release.set()
    t1.join(10)
    t2.join(10)
    assert results["second"] == results["first"]
    with schema_context("alpha"):
        assert Message.objects.filter(idempotency_key=key).count() == 1
