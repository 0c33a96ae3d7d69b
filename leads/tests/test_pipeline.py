"""The lead pipeline: only legal moves, each one recorded."""

import pytest

from bizmitra.errors import Conflict, ValidationFailed
from leads.choices import LeadStage
from leads.models import Lead, LeadTransition
from leads.services import lead_capture, lead_transition
from leads.tests.factories import make_agent, unique_mobile


def _lead(**fields) -> Lead:
    return lead_capture(phone=unique_mobile(), fields=fields, source="website", actor="test")


class TestTransitions:
    def test_walk_through_the_pipeline_records_every_move(self, in_alpha):
        owner = make_agent()
        lead = _lead()
        for stage in ("contacted", "qualified", "converted", "paid"):
            lead = lead_transition(lead=lead, to=stage, actor=owner, reason=f"to {stage}")
        assert Lead.objects.get(pk=lead.pk).stage == LeadStage.PAID
        moves = list(LeadTransition.objects.filter(lead=lead).values_list("from_stage", "to_stage", "actor"))
        assert moves == [
            ("new", "contacted", owner.username),
            ("contacted", "qualified", owner.username),
            ("qualified", "converted", owner.username),
            ("converted", "paid", owner.username),
        ]
        assert all(t.by_user_id == owner.pk for t in LeadTransition.objects.filter(lead=lead))

    @pytest.mark.parametrize(
        ("path", "illegal"),
        [
            ([], "converted"),
            ([], "paid"),
            (["contacted"], "new"),
            (["contacted", "qualified", "converted", "paid"], "lost"),
            (["lost"], "contacted"),
        ],
    )
    def test_illegal_moves_are_refused_and_not_recorded(self, in_alpha, path, illegal):
        lead = _lead()
        for stage in path:
            lead = lead_transition(lead=lead, to=stage, actor="test", reason="because")
        before = LeadTransition.objects.filter(lead=lead).count()
        with pytest.raises(Conflict) as caught:
            lead_transition(lead=lead, to=illegal, actor="test", reason="because")
        assert f"cannot move to '{illegal}'" in caught.value.message
        assert caught.value.extra["current_stage"] == Lead.objects.get(pk=lead.pk).stage
        assert LeadTransition.objects.filter(lead=lead).count() == before

    def test_lost_from_any_open_stage_needs_a_reason(self, in_alpha):
        for path in ([], ["contacted"], ["qualified"], ["qualified", "converted"]):
            lead = _lead()
            for stage in path:
                lead = lead_transition(lead=lead, to=stage, actor="test")
            with pytest.raises(ValidationFailed) as caught:
                lead_transition(lead=lead, to="lost", actor="test")
            assert "reason" in caught.value.fields
            lead = lead_transition(lead=lead, to="lost", actor="test", reason="went with a competitor")
            assert lead.stage == LeadStage.LOST
            assert LeadTransition.objects.filter(lead=lead, to_stage="lost").get().reason == "went with a competitor"

    def test_unknown_stage_is_a_validation_error(self, in_alpha):
        with pytest.raises(ValidationFailed) as caught:
            lead_transition(lead=_lead(), to="won", actor="test")
        assert "to" in caught.value.fields

    def test_stage_cannot_be_assigned_directly(self, in_alpha):
        lead = _lead()
        with pytest.raises(AttributeError):
            lead.stage = LeadStage.PAID

    def test_system_actor_is_recorded_without_user(self, in_alpha):
        lead = lead_transition(lead=_lead(), to="contacted", actor="system:engine", reason="bot replied")
        transition = LeadTransition.objects.get(lead=lead)
        assert transition.by_user is None and transition.actor == "system:engine"

    def test_lost_or_paid_cancels_a_scheduled_follow_up(self, in_alpha):
        lead = _lead(follow_up_at="2030-01-01T10:00:00+05:30")
        assert lead.follow_up_state == "scheduled"
        lead = lead_transition(lead=lead, to="lost", actor="test", reason="no budget")
        assert Lead.objects.get(pk=lead.pk).follow_up_state == "cancelled"


class TestFirstContactByAgent:
    def test_an_agents_message_marks_a_new_lead_contacted(self, in_alpha):
        from conversations.choices import Direction
        from leads.listeners import mark_contacted_on_agent_message
        from leads.tests.factories import make_contact, make_message

        agent = make_agent()
        contact = make_contact()
        lead = lead_capture(contact=contact, fields={}, source="whatsapp", actor="engine")
        bot = make_message(contact=contact, direction=Direction.OUTBOUND, body="Auto-reply")
        mark_contacted_on_agent_message(event_name="message.queued", schema_name="alpha", message_id=bot.pk)
        assert Lead.objects.get(pk=lead.pk).stage == LeadStage.NEW  # a bot reply is not first contact

        human = make_message(contact=contact, direction=Direction.OUTBOUND, body="Hi, Priya here")
        human.sent_by = agent
        human.save(update_fields=["sent_by"])
        mark_contacted_on_agent_message(event_name="message.queued", schema_name="alpha", message_id=human.pk)
        assert Lead.objects.get(pk=lead.pk).stage == LeadStage.CONTACTED
        transition = LeadTransition.objects.get(lead=lead)
        assert transition.by_user == agent and transition.reason == "Sent the first WhatsApp message."
