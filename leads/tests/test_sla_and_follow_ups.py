"""First-contact SLA flagging and templated follow-ups, each acting once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from conversations.models import Message
from leads.choices import FollowUpState, LeadStage, NotificationKind
from leads.models import Lead, Notification
from leads.selectors import lead_settings_get, owners_list
from leads.services import (
    lead_capture,
    lead_follow_up_send,
    lead_follow_ups_due,
    lead_sla_check,
    lead_transition,
    lead_update,
    leads_periodic_tasks_ensure,
)
from leads.services.follow_ups import FOLLOW_UP_CLAIM_TIMEOUT, lead_follow_up_claim
from leads.tests.factories import make_agent, make_contact, unique_mobile


def _age(lead: Lead, minutes: int) -> None:
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))


class TestFirstContactSla:
    def test_leads_still_new_past_the_window_are_flagged_once_and_owners_notified(self, in_alpha):
        settings = lead_settings_get()
        settings.first_contact_sla_minutes = 15
        settings.save()
        agent = make_agent()
        late = lead_capture(phone=unique_mobile(), fields={"name": "Late"}, source="website", actor="t")
        lead_update(lead=late, fields={"assigned_agent": agent}, actor="t")
        recent = lead_capture(phone=unique_mobile(), fields={"name": "Recent"}, source="website", actor="t")
        contacted = lead_capture(phone=unique_mobile(), fields={"name": "Done"}, source="website", actor="t")
        lead_transition(lead=contacted, to="contacted", actor="t")
        _age(late, 20)
        _age(recent, 5)
        _age(contacted, 60)

        lead_sla_check()
        lead_sla_check()  # a second run (or an overlapping one) flags nothing new

        assert Lead.objects.get(pk=late.pk).sla_breached_at is not None
        assert Lead.objects.get(pk=recent.pk).sla_breached_at is None
        assert Lead.objects.get(pk=contacted.pk).sla_breached_at is None
        notified = Notification.objects.filter(lead=late, kind=NotificationKind.SLA_BREACHED)
        assert sorted(n.recipient_id for n in notified) == sorted({u.pk for u in owners_list()} | {agent.pk})
        assert "waited 20 min" in notified.first().title

    def test_zero_minutes_switches_the_check_off(self, in_alpha):
        settings = lead_settings_get()
        settings.first_contact_sla_minutes = 0
        settings.save()
        lead = lead_capture(phone=unique_mobile(), fields={}, source="website", actor="t")
        _age(lead, 600)
        assert lead_sla_check() == 0
        assert Lead.objects.get(pk=lead.pk).sla_breached_at is None


def _configure_template(params=("name",)):
    settings = lead_settings_get()
    settings.follow_up_template_name = "lead_follow_up"
    settings.follow_up_template_language = "en"
    settings.follow_up_template_params = list(params)
    settings.save()


def _lead_due(**extra) -> Lead:
    contact = make_contact(profile_name="Sunita")
    lead = lead_capture(contact=contact, fields={"name": "Sunita", **extra}, source="whatsapp", actor="engine")
    due = timezone.now() - timedelta(minutes=1)
    return lead_update(lead=lead, fields={"follow_up_at": due}, actor="agent")


class TestFollowUpScheduling:
    def test_setting_follow_up_at_schedules_and_a_new_time_rearms(self, in_alpha):
        lead = _lead_due()
        assert lead.follow_up_state == FollowUpState.SCHEDULED
        assert lead.pk in lead_follow_ups_due()
        later = timezone.now() + timedelta(days=1)
        lead = lead_update(lead=lead, fields={"follow_up_at": later}, actor="agent")
        assert lead.pk not in lead_follow_ups_due()
        assert lead.pk in lead_follow_ups_due(now=later + timedelta(seconds=1))
        lead = lead_update(lead=lead, fields={"follow_up_at": None}, actor="agent")
        assert lead.follow_up_state == FollowUpState.NONE

    def test_a_due_follow_up_is_claimed_once(self, in_alpha):
        lead = _lead_due()
        assert lead_follow_up_claim(lead_id=lead.pk) is not None
        assert lead_follow_up_claim(lead_id=lead.pk) is None
        assert Lead.objects.get(pk=lead.pk).follow_up_state == FollowUpState.SENDING

    def test_an_interrupted_send_is_due_again_after_the_claim_timeout(self, in_alpha):
        lead = _lead_due()
        lead_follow_up_claim(lead_id=lead.pk)
        assert lead.pk not in lead_follow_ups_due()
        later = timezone.now() + FOLLOW_UP_CLAIM_TIMEOUT + timedelta(seconds=5)
        assert lead.pk in lead_follow_ups_due(now=later)
        assert lead_follow_up_claim(lead_id=lead.pk, now=later) is not None

    def test_without_a_template_the_follow_up_fails_visibly(self, in_alpha):
        lead = _lead_due()
        assert lead_follow_up_send(lead_id=lead.pk) == "failed"
        lead.refresh_from_db()
        assert lead.follow_up_state == FollowUpState.FAILED
        assert "template" in lead.follow_up_error
        assert Notification.objects.filter(lead=lead, kind=NotificationKind.FOLLOW_UP_FAILED).exists()

    def test_lost_leads_get_no_follow_up(self, in_alpha):
        _configure_template()
        lead = _lead_due()
        Lead.objects.filter(pk=lead.pk).update(stage=LeadStage.LOST)
        assert lead_follow_up_send(lead_id=lead.pk) == "cancelled"
        assert not Message.objects.filter(idempotency_key__startswith=f"followup:{lead.pk}:").exists()


class TestFollowUpSend:
    @pytest.fixture(autouse=True)
    def _outbound(self):
        pytest.importorskip("conversations.services.outbound")

    def test_due_follow_up_is_sent_once_as_the_configured_template(self, in_alpha):
        _configure_template()
        lead = _lead_due()
        due_at = Lead.objects.get(pk=lead.pk).follow_up_at

        assert lead_follow_up_send(lead_id=lead.pk) == "sent"
        assert lead_follow_up_send(lead_id=lead.pk) == "skipped"

        key = f"followup:{lead.pk}:{due_at.isoformat()}"
        message = Message.objects.get(idempotency_key=key)
        assert message.type == "template" and message.direction == "out"
        assert message.payload["template"] == {
            "name": "lead_follow_up",
            "language": {"code": "en"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Sunita"}]}],
        }
        assert message.payload["to"] == f"+{lead.contact.wa_id}"
        lead.refresh_from_db()
        assert lead.follow_up_state == FollowUpState.SENT and lead.follow_up_message_id == message.pk

    def test_retry_after_a_crash_records_the_message_already_queued(self, in_alpha):
        _configure_template(params=())
        lead = _lead_due()
        assert lead_follow_up_send(lead_id=lead.pk) == "sent"
        first = Lead.objects.get(pk=lead.pk).follow_up_message_id
        # As if the worker died after queueing but before recording: the claim is stale.
        stale = timezone.now() - FOLLOW_UP_CLAIM_TIMEOUT - timedelta(minutes=1)
        Lead.objects.filter(pk=lead.pk).update(follow_up_state=FollowUpState.SENDING, follow_up_claimed_at=stale)

        assert lead_follow_up_send(lead_id=lead.pk) == "sent"
        assert Message.objects.filter(idempotency_key__startswith=f"followup:{lead.pk}:").count() == 1
        assert Lead.objects.get(pk=lead.pk).follow_up_message_id == first

    def test_a_new_follow_up_time_sends_a_new_message(self, in_alpha):
        _configure_template(params=())
        lead = _lead_due()
        lead_follow_up_send(lead_id=lead.pk)
        lead_update(lead=lead, fields={"follow_up_at": timezone.now() - timedelta(seconds=5)}, actor="agent")
        assert lead_follow_up_send(lead_id=lead.pk) == "sent"
        assert Message.objects.filter(idempotency_key__startswith=f"followup:{lead.pk}:").count() == 2


class TestPeriodicTasks:
    def test_registration_is_idempotent(self, db):
        first = leads_periodic_tasks_ensure()
        leads_periodic_tasks_ensure()
        tasks = PeriodicTask.objects.filter(name__in=first)
        assert tasks.count() == len(first) == 4
        assert {t.task for t in tasks} == {"leads.tasks.leads_fanout_task"}
        assert {t.kwargs for t in tasks} == {
            '{"job": "sla"}',
            '{"job": "follow_ups"}',
            '{"job": "calendar_sync"}',
            '{"job": "analytics_roll_up"}',
        }
        # Minute jobs, and the hourly analytics roll-up.
        assert {t.interval.every for t in tasks if t.name != "analytics: roll up closed days"} == {60}
        assert tasks.get(name="analytics: roll up closed days").interval.every == 3600
