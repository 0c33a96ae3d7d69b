"""The templates admin's "Send test to my number": templates renders, conversations sends
(through ``templates.hooks``, plugged in by ``conversations.engine.flow_rules``)."""

import pytest
from django.utils import timezone

from conversations.models import Contact, Message
from conversations.tests.engine_support import unique_wa_id
from templates.tests.factories import button_template, text_template
from tests.tenancy import tenant_client

BASE = "/admin/message_templates/messagetemplate/"


@pytest.fixture
def owner(in_alpha, alpha):
    return tenant_client(alpha, login=True)


def contact(**fields) -> Contact:
    return Contact.objects.create(wa_id=unique_wa_id(), **fields)


class TestSendTest:
    def test_sends_through_the_outbound_pipeline(self, owner):
        template = button_template(titles=("Yes", "No"), body="Hi {{first_name}}")
        person = contact(last_inbound_at=timezone.now())
        url = f"{BASE}{template.pk}/send-test/"
        response = owner.post(url, {"to": f"+{person.wa_id}", "send_test": "1"}, follow=True)
        assert "is on its way" in response.content.decode()
        message = Message.objects.get(conversation__contact=person)
        assert message.type == "interactive" and message.body == "Hi Test"
        assert message.payload["interactive"]["action"]["buttons"][0]["reply"]["title"] == "Yes"
        # The number is remembered for the next test send.
        assert f"+{person.wa_id}" in owner.get(url).content.decode()

    def test_closed_window_is_explained(self, owner):
        template = text_template()
        response = owner.post(f"{BASE}{template.pk}/send-test/", {"to": "+919800000001", "send_test": "1"}, follow=True)
        assert "was not sent" in response.content.decode() and "24-hour" in response.content.decode()

    def test_changelist_action_asks_for_the_number_then_sends(self, owner):
        first, second = text_template(name="One"), text_template(name="Two")
        person = contact(last_inbound_at=timezone.now())
        selection = {"action": "send_test_action", "_selected_action": [first.pk, second.pk]}
        form_page = owner.post(BASE, selection)
        assert form_page.status_code == 200 and b"Your WhatsApp number" in form_page.content
        done = owner.post(BASE, {**selection, "to": f"+{person.wa_id}", "send_test": "1"}, follow=True)
        assert done.status_code == 200
        assert Message.objects.filter(conversation__contact=person).count() == 2
