"""Serializers of the workflows API."""

from rest_framework import serializers

from bizmitra.errors import ValidationFailed
from workflows.models import CommunicationWorkflow
from workflows.services.rules import workflow_errors


class Unprocessable422Mixin:
    """Invalid input is a 422 naming each field, like every ValidationFailed in the project."""

    def is_valid(self, *, raise_exception=False):
        valid = super().is_valid(raise_exception=False)
        if not valid and raise_exception:
            raise ValidationFailed("Invalid input.", fields=dict(self.errors))
        return valid


class WorkflowSerializer(Unprocessable422Mixin, serializers.ModelSerializer):
    class Meta:
        model = CommunicationWorkflow
        fields = [
            "id",
            "name",
            "trigger",
            "channel",
            "template_name",
            "language",
            "parameter_mapping",
            "body",
            "email_subject",
            "tenant_template_id",
            "delay_minutes",
            "max_attempts",
            "retry_base_seconds",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs):
        def value(name):
            if name in attrs:
                return attrs[name]
            if self.instance is not None:
                return getattr(self.instance, name)
            return CommunicationWorkflow._meta.get_field(name).get_default()

        errors = workflow_errors(
            channel=value("channel"),
            template_name=value("template_name"),
            body=value("body"),
            email_subject=value("email_subject"),
            tenant_template_id=value("tenant_template_id"),
            parameter_mapping=value("parameter_mapping"),
        )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class TriggerInputSerializer(Unprocessable422Mixin, serializers.Serializer):
    """Body of POST /api/workflows/trigger (camelCase, as client websites send it)."""

    trigger = serializers.CharField(max_length=64)
    phone = serializers.CharField(max_length=32)
    variables = serializers.JSONField(required=False, default=list)
    email = serializers.CharField(required=False, allow_blank=True, default="", max_length=254)
    conversationId = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)  # noqa: N815
    baseTime = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)  # noqa: N815
    delayMinutes = serializers.FloatField(required=False, allow_null=True, default=None)  # noqa: N815
    callbackUrl = serializers.CharField(required=False, allow_blank=True, default="", max_length=2048)  # noqa: N815
    callbackMetadata = serializers.JSONField(required=False, default=dict)  # noqa: N815
    idempotencyKey = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)  # noqa: N815
    allowLate = serializers.BooleanField(required=False, default=False)  # noqa: N815
