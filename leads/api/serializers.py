from django.contrib.auth import get_user_model
from rest_framework import serializers

from leads.choices import LeadSource
from leads.models import Appointment, Lead, Notification
from leads.services.leads import lead_allowed_stages


class LeadOutputSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(read_only=True)
    tags = serializers.SerializerMethodField()
    assigned_agent = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField()
    allowed_transitions = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = [
            "id",
            "display_name",
            "name",
            "email",
            "phone",
            "location",
            "product_interest",
            "source",
            "stage",
            "allowed_transitions",
            "stage_changed_at",
            "assigned_agent",
            "score",
            "tags",
            "notes",
            "contact",
            "follow_up_at",
            "follow_up_state",
            "follow_up_sent_at",
            "follow_up_error",
            "sla_breached_at",
            "created_at",
            "updated_at",
        ]

    def get_tags(self, lead: Lead) -> list[str]:
        return [tag.name for tag in lead.tags.all()]

    def get_assigned_agent(self, lead: Lead) -> dict | None:
        agent = lead.assigned_agent
        if agent is None:
            return None
        return {"id": agent.pk, "username": agent.get_username(), "email": agent.email}

    def get_contact(self, lead: Lead) -> dict | None:
        contact = lead.contact
        if contact is None:
            return None
        return {"id": contact.pk, "wa_id": contact.wa_id, "profile_name": contact.profile_name}

    def get_allowed_transitions(self, lead: Lead) -> list[str]:
        return lead_allowed_stages(lead)


def _agent_field(**kwargs):
    return serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), allow_null=True, **kwargs
    )


class LeadInputSerializer(serializers.Serializer):
    """Lead fields an agent or API client may set; the service validates emails and phones."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    location = serializers.CharField(required=False, allow_blank=True, max_length=200)
    product_interest = serializers.CharField(required=False, allow_blank=True, max_length=255)
    notes = serializers.CharField(required=False, allow_blank=True)
    assigned_agent = _agent_field(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    follow_up_at = serializers.DateTimeField(required=False, allow_null=True)


class LeadCreateInputSerializer(LeadInputSerializer):
    source = serializers.ChoiceField(choices=LeadSource.choices, default=LeadSource.MANUAL)
    contact = serializers.IntegerField(required=False, allow_null=True)


class LeadTransitionInputSerializer(serializers.Serializer):
    to = serializers.CharField(max_length=32)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class AppointmentOutputSerializer(serializers.ModelSerializer):
    lead = serializers.SerializerMethodField()

    class Meta:
        model = Appointment
        fields = [
            "id",
            "lead",
            "contact_id",
            "title",
            "notes",
            "start_at",
            "end_at",
            "status",
            "meeting_link",
            "google_event_id",
            "calendar_sync_state",
            "calendar_sync_error",
            "cancel_reason",
            "cancelled_at",
            "booked_by",
            "created_at",
            "updated_at",
        ]

    def get_lead(self, appointment: Appointment) -> dict | None:
        lead = appointment.lead
        if lead is None:
            return None
        return {"id": lead.pk, "display_name": lead.display_name, "phone": lead.phone, "stage": lead.stage}


class AppointmentCreateInputSerializer(serializers.Serializer):
    lead = serializers.IntegerField(required=False, allow_null=True)
    contact = serializers.IntegerField(required=False, allow_null=True)
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField(required=False, allow_null=True)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True)


class AppointmentUpdateInputSerializer(serializers.Serializer):
    start_at = serializers.DateTimeField(required=False)
    end_at = serializers.DateTimeField(required=False)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True)


class AppointmentCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class NotificationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "lead_id", "appointment_id", "read_at", "created_at"]


class ScoreKindSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    points = serializers.IntegerField()


class ScoreSignalSerializer(serializers.Serializer):
    kind = serializers.CharField()
    points = serializers.IntegerField()
    detail = serializers.CharField()
    at = serializers.DateTimeField()


class PointsTableRowSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    points = serializers.IntegerField()
    cap = serializers.IntegerField(allow_null=True)


class LeadScoreOutputSerializer(serializers.Serializer):
    """Why a lead has its score: points per kind of signal, the latest signals, and the points table."""

    lead_id = serializers.IntegerField()
    score = serializers.IntegerField()
    total_from_signals = serializers.IntegerField()
    by_kind = ScoreKindSerializer(many=True)
    signals = ScoreSignalSerializer(many=True)
    points_table = PointsTableRowSerializer(many=True)
