"""Lead score: points from interaction signals, explained signal by signal."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bizmitra import events
from bizmitra.errors import ValidationFailed
from conversations.choices import Direction, MessageType
from leads.choices import LeadSource
from leads.listeners import score_inbound_message
from leads.models import Lead, LeadSignal
from leads.selectors import lead_score_breakdown, lead_settings_get
from leads.services import lead_capture, lead_signal_record
from leads.services.scoring import SIGNAL_CAPS, SIGNAL_POINTS
from leads.tasks import lead_signals_score_task
from leads.tests.factories import make_contact, make_message


def _lead_for(contact) -> Lead:
    return lead_capture(contact=contact, fields={}, source=LeadSource.WHATSAPP, actor="engine")


def _receive(message) -> None:
    """What the scoring task does for a message of a stored part (``messages.received``)."""
    lead_signals_score_task.apply(kwargs={"message_ids": [message.pk]})


class TestSignalRecord:
    def test_score_is_the_sum_of_signal_points(self, in_alpha):
        lead = _lead_for(make_contact())
        lead_signal_record(lead=lead, kind="reply", dedupe_key="m1")
        lead_signal_record(lead=lead, kind="pricing_intent", detail='said "price"')
        lead_signal_record(lead=lead, kind="demo_intent")
        expected = SIGNAL_POINTS["reply"] + SIGNAL_POINTS["pricing_intent"] + SIGNAL_POINTS["demo_intent"]
        assert Lead.objects.get(pk=lead.pk).score == expected == lead.score

    def test_same_dedupe_key_counts_once(self, in_alpha):
        lead = _lead_for(make_contact())
        assert lead_signal_record(lead=lead, kind="reply", dedupe_key="msg:1") is not None
        assert lead_signal_record(lead=lead, kind="reply", dedupe_key="msg:1") is None
        assert LeadSignal.objects.filter(lead=lead).count() == 1

    def test_intents_count_once_per_lead(self, in_alpha):
        lead = _lead_for(make_contact())
        lead_signal_record(lead=lead, kind="pricing_intent")
        assert lead_signal_record(lead=lead, kind="pricing_intent") is None
        assert Lead.objects.get(pk=lead.pk).score == SIGNAL_POINTS["pricing_intent"]

    def test_capped_kinds_stop_adding_points_but_stay_visible(self, in_alpha):
        lead = _lead_for(make_contact())
        for n in range(10):
            lead_signal_record(lead=lead, kind="reply", dedupe_key=f"msg:{n}")
        assert Lead.objects.get(pk=lead.pk).score == SIGNAL_CAPS["reply"]
        assert LeadSignal.objects.filter(lead=lead, kind="reply").count() == 10
        assert LeadSignal.objects.filter(lead=lead, kind="reply", points=0).first().detail.endswith("reached)")

    def test_unknown_kind_is_refused(self, in_alpha):
        with pytest.raises(ValidationFailed):
            lead_signal_record(lead=_lead_for(make_contact()), kind="liked_our_post")


class TestBreakdown:
    def test_breakdown_explains_the_score(self, in_alpha):
        lead = _lead_for(make_contact())
        lead_signal_record(lead=lead, kind="reply", dedupe_key="a", detail="text message")
        lead_signal_record(lead=lead, kind="reply", dedupe_key="b")
        lead_signal_record(lead=lead, kind="button_tap", dedupe_key="c", detail='tapped "Pricing"')
        breakdown = lead_score_breakdown(lead=Lead.objects.get(pk=lead.pk))
        assert breakdown["score"] == breakdown["total_from_signals"] == 2 + 2 + 3
        by_kind = {row["kind"]: row for row in breakdown["by_kind"]}
        assert by_kind["reply"] == {"kind": "reply", "label": "Replied", "count": 2, "points": 4}
        assert by_kind["button_tap"]["points"] == 3
        assert [s["kind"] for s in breakdown["signals"]] == ["button_tap", "reply", "reply"]
        assert {row["kind"] for row in breakdown["points_table"]} == set(SIGNAL_POINTS)


class TestInboundMessages:
    def test_listener_is_registered_for_message_received(self):
        assert score_inbound_message in events._listeners["messages.received"]

    def test_reply_with_pricing_words_and_quick_answer(self, in_alpha):
        contact = make_contact()
        lead = _lead_for(contact)
        sent = timezone.now() - timedelta(minutes=2)
        make_message(contact=contact, direction=Direction.OUTBOUND, body="Hi! How can we help?", at=sent)
        inbound = make_message(contact=contact, body="What is the price of 1kg ghee?", at=sent + timedelta(seconds=40))
        _receive(inbound)
        kinds = dict(LeadSignal.objects.filter(lead=lead).values_list("kind", "points"))
        assert kinds == {"reply": 2, "pricing_intent": 10, "fast_response": 5}
        assert Lead.objects.get(pk=lead.pk).score == 17
        assert LeadSignal.objects.get(lead=lead, kind="fast_response").detail == "answered our message in 40 s"

    def test_the_same_message_delivered_twice_scores_once(self, in_alpha):
        contact = make_contact()
        lead = _lead_for(contact)
        inbound = make_message(contact=contact, body="ok")
        _receive(inbound)
        _receive(inbound)
        assert LeadSignal.objects.filter(lead=lead).count() == 1

    def test_button_tap_and_demo_intent(self, in_alpha):
        contact = make_contact()
        lead = _lead_for(contact)
        tap = make_message(
            contact=contact, type=MessageType.BUTTON_REPLY, body="", payload_id="book_demo", payload_title="Book a demo"
        )
        _receive(tap)
        kinds = set(LeadSignal.objects.filter(lead=lead).values_list("kind", flat=True))
        assert kinds == {"button_tap", "demo_intent"}

    def test_slow_or_second_replies_are_not_fast(self, in_alpha):
        contact = make_contact()
        lead = _lead_for(contact)
        sent = timezone.now() - timedelta(hours=2)
        make_message(contact=contact, direction=Direction.OUTBOUND, body="Hello", at=sent)
        _receive(make_message(contact=contact, body="hi", at=sent + timedelta(minutes=30)))
        _receive(make_message(contact=contact, body="there?", at=sent + timedelta(minutes=31)))
        assert not LeadSignal.objects.filter(lead=lead, kind="fast_response").exists()

    def test_no_lead_is_created_for_messages_unless_the_tenant_asks(self, in_alpha):
        contact = make_contact()
        _receive(make_message(contact=contact, body="hello"))
        assert not Lead.objects.filter(contact=contact).exists()

        settings = lead_settings_get()
        settings.create_leads_from_messages = True
        settings.save()
        _receive(make_message(contact=contact, body="hello again"))
        lead = Lead.objects.get(contact=contact)
        assert lead.source == "whatsapp" and lead.score == SIGNAL_POINTS["reply"]


class TestWebhookPartScoredTogether:
    """A stored part's messages are scored in one task with a few statements (issue 9)."""

    def test_a_part_from_senders_without_leads_takes_three_statements(self, in_alpha, django_assert_max_num_queries):
        ids = [make_message(contact=make_contact(), body=f"hi {n}").pk for n in range(30)]
        with django_assert_max_num_queries(3):  # messages + contacts, their leads, the settings
            assert lead_signals_score_task.apply(kwargs={"message_ids": ids}).get() == 0
        assert not Lead.objects.exists()

    def test_a_mixed_part_scores_each_message_of_a_lead_once(self, in_alpha):
        with_lead, without = make_contact(), make_contact()
        lead = _lead_for(with_lead)
        first = make_message(contact=with_lead, body="hello")
        second = make_message(contact=with_lead, body="what is the price?")
        stranger = make_message(contact=without, body="hi")
        ids = [second.pk, stranger.pk, first.pk]
        assert lead_signals_score_task.apply(kwargs={"message_ids": ids}).get() == 3
        assert lead_signals_score_task.apply(kwargs={"message_ids": ids}).get() == 0  # a redelivered part
        kinds = sorted(LeadSignal.objects.filter(lead=lead).values_list("kind", flat=True))
        assert kinds == ["pricing_intent", "reply", "reply"]
        assert not Lead.objects.filter(contact=without).exists()

    def test_with_lead_creation_on_each_new_sender_gets_one_lead(self, in_alpha):
        settings = lead_settings_get()
        settings.create_leads_from_messages = True
        settings.save()
        contact = make_contact()
        ids = [make_message(contact=contact, body=body).pk for body in ("hi", "there")]
        lead_signals_score_task.apply(kwargs={"message_ids": ids})
        lead = Lead.objects.get(contact=contact)
        assert lead.score == 2 * SIGNAL_POINTS["reply"]
