"""Progressive capture: validated, normalised, and qualification when the details are complete."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from bizmitra.errors import Conflict, ValidationFailed
from bizmitra.events import live_group_name
from leads.choices import LeadStage, NotificationKind
from leads.models import Lead, LeadTransition, Notification
from leads.selectors import lead_settings_get, owners_list
from leads.services import lead_capture, lead_update
from leads.tests.factories import make_agent, make_contact, unique_mobile


async def _receive_until(layer, channel: str, event_name: str) -> list[dict]:
    # One event loop for all receives: channels_redis buffers per loop.
    events = []
    while not any(event["event"] == event_name for event in events):
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        events.extend(message["events"])
    return events


class TestNormalisation:
    def test_email_is_lowercased_and_phone_made_e164(self, in_alpha):
        lead = lead_capture(
            phone="098765 43210",
            fields={"email": "  Ravi.Kumar@Example.COM ", "name": "  Ravi   Kumar "},
            source="website",
            actor="test",
        )
        lead.refresh_from_db()
        assert lead.email == "ravi.kumar@example.com"
        assert lead.phone == "+919876543210"
        assert lead.name == "Ravi Kumar"

    def test_tenant_default_region_applies_to_numbers_without_country_code(self, in_alpha):
        settings = lead_settings_get()
        settings.default_region = "GB"
        settings.save()
        lead = lead_capture(phone="020 7946 0958", fields={}, source="website", actor="test")
        assert lead.phone == "+442079460958"

    @pytest.mark.parametrize(
        ("fields", "bad_field"),
        [
            ({"email": "ravi@"}, "email"),
            ({"email": "not an email"}, "email"),
            ({"phone": "12345"}, "phone"),
            ({"phone": "call me maybe"}, "phone"),
            ({"favourite_colour": "blue"}, "favourite_colour"),
        ],
    )
    def test_invalid_values_are_rejected_with_a_field_error_and_nothing_is_stored(self, in_alpha, fields, bad_field):
        contact = make_contact()
        lead = lead_capture(contact=contact, fields={"name": "Ravi"}, source="whatsapp", actor="engine")
        with pytest.raises(ValidationFailed) as caught:
            lead_capture(contact=contact, fields={**fields, "location": "Pune"}, source="whatsapp", actor="engine")
        assert list(caught.value.fields) == [bad_field]
        assert caught.value.fields[bad_field][0]
        lead.refresh_from_db()
        assert lead.location == ""  # the valid value in the same call was not stored either

    def test_blank_values_do_not_erase_earlier_answers(self, in_alpha):
        contact = make_contact()
        lead_capture(contact=contact, fields={"email": "a@b.co"}, source="whatsapp", actor="engine")
        lead = lead_capture(contact=contact, fields={"email": "", "location": None}, source="whatsapp", actor="engine")
        assert lead.email == "a@b.co"

    def test_phone_of_another_lead_is_refused(self, in_alpha):
        taken = unique_mobile()
        lead_capture(phone=taken, fields={}, source="website", actor="test")
        with pytest.raises(Conflict) as caught:
            lead_capture(contact=make_contact(), fields={"phone": taken}, source="whatsapp", actor="engine")
        assert "phone" in caught.value.fields


class TestOneLeadPerPerson:
    def test_repeated_capture_fills_the_same_lead(self, in_alpha):
        contact = make_contact(profile_name="Asha")
        first = lead_capture(contact=contact, fields={"name": "Asha"}, source="whatsapp", actor="engine")
        second = lead_capture(contact=contact, fields={"location": "Delhi"}, source="whatsapp", actor="engine")
        assert first.pk == second.pk
        assert Lead.objects.filter(contact=contact).count() == 1
        assert second.phone == f"+{contact.wa_id}"
        assert second.source == "whatsapp"

    def test_website_lead_is_linked_when_the_person_writes_on_whatsapp(self, in_alpha):
        phone = unique_mobile()
        website = lead_capture(phone=phone, fields={"email": "web@x.in"}, source="trigger_api", actor="api")
        contact = make_contact(wa_id=phone.lstrip("+"))
        whatsapp = lead_capture(contact=contact, fields={"name": "Meena"}, source="whatsapp", actor="engine")
        assert whatsapp.pk == website.pk
        assert whatsapp.contact_id == contact.pk
        assert whatsapp.source == "trigger_api"  # where the lead first came from

    def test_a_contact_or_phone_is_required(self, in_alpha):
        with pytest.raises(ValidationFailed):
            lead_capture(fields={"name": "Nobody"}, source="website", actor="test")


class TestAutomaticQualification:
    def test_lead_qualifies_once_required_fields_are_present(self, in_alpha):
        contact = make_contact()
        lead = lead_capture(contact=contact, fields={"name": "Ravi"}, source="whatsapp", actor="engine")
        assert lead.stage == LeadStage.NEW  # phone (from WhatsApp) + name, no product interest yet
        lead = lead_capture(contact=contact, fields={"product_interest": "Ghee 1kg"}, source="whatsapp", actor="engine")
        assert lead.stage == LeadStage.QUALIFIED
        transition = LeadTransition.objects.get(lead=lead)
        assert (transition.from_stage, transition.to_stage, transition.actor) == (
            "new",
            "qualified",
            "system:auto-qualify",
        )
        assert transition.by_user is None

    def test_required_fields_come_from_tenant_settings(self, in_alpha):
        settings = lead_settings_get()
        settings.required_fields = ["email"]
        settings.save()
        lead = lead_capture(phone=unique_mobile(), fields={"email": "x@y.in"}, source="website", actor="test")
        assert lead.stage == LeadStage.QUALIFIED

    def test_assigned_agent_gets_a_notification_and_a_live_event(self, in_alpha, django_capture_on_commit_callbacks):
        agent = make_agent()
        contact = make_contact()
        lead = lead_capture(contact=contact, fields={"name": "Ravi"}, source="whatsapp", actor="engine")
        lead_update(lead=lead, fields={"assigned_agent": agent}, actor="test")

        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(live_group_name("alpha"), channel)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                lead_capture(contact=contact, fields={"product_interest": "Paneer"}, source="whatsapp", actor="engine")
            events = async_to_sync(_receive_until)(layer, channel, "lead.qualified")
        finally:
            async_to_sync(layer.group_discard)(live_group_name("alpha"), channel)

        qualified = next(e for e in events if e["event"] == "lead.qualified")
        assert qualified["lead_id"] == lead.pk and qualified["automatic"] is True
        assert qualified["notified_user_ids"] == [agent.pk]
        notification = Notification.objects.get(lead=lead, kind=NotificationKind.LEAD_QUALIFIED)
        assert notification.recipient == agent
        assert "Ravi" in notification.title

    def test_without_an_agent_the_owners_are_notified(self, in_alpha):
        lead = lead_capture(
            phone=unique_mobile(), fields={"name": "Kiran", "product_interest": "Milk"}, source="website", actor="x"
        )
        assert lead.stage == LeadStage.QUALIFIED
        recipients = set(Notification.objects.filter(lead=lead).values_list("recipient_id", flat=True))
        assert recipients == {u.pk for u in owners_list()} and recipients

    def test_an_agent_qualifying_by_hand_is_not_notified_of_their_own_move(self, in_alpha):
        from leads.services import lead_transition

        agent = make_agent()
        lead = lead_capture(phone=unique_mobile(), fields={}, source="website", actor="x")
        lead = lead_update(lead=lead, fields={"assigned_agent": agent}, actor=agent)
        lead_transition(lead=lead, to="qualified", actor=agent, reason="called them")
        assert not Notification.objects.filter(lead=lead).exists()
