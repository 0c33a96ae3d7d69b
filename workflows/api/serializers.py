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
    # Tenant templates are picked by their key (``tmpl_…``), like everywhere in the API;
    # null or "" clears it. The id is shown read-only.
    template_key = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=16)

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
            "template_key",
            "tenant_template_id",
            "delay_minutes",
            "max_attempts",
            "retry_base_seconds",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "tenant_template_id", "created_at", "updated_at"]

    def to_representation(self, instance):
        from workflows.services.rules import tenant_template_get

        data = super().to_representation(instance)
        template = tenant_template_get(instance.tenant_template_id) if instance.tenant_template_id else None
        data["template_key"] = template.key if template is not None else None
        return data

    def validate(self, attrs):
        if "template_key" in attrs:
            from templates.selectors import template_get

            key = attrs.pop("template_key") or ""
            template = template_get(key=key) if key else None
            if key and template is None:
                # Another tenant's key is refused like any unknown key: templates live in each tenant's schema.
                raise serializers.ValidationError({"template_key": [f"No template with key '{key}' in this business."]})
            attrs["tenant_template_id"] = template.pk if template is not None else None

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
        if "tenant_template_id" in errors:
            errors["template_key"] = errors.pop("tenant_template_id")
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


class TriggerJobSerializer(serializers.Serializer):
    """One job a trigger scheduled (documentation of the response; built by the service)."""

    id = serializers.CharField()
    workflowId = serializers.IntegerField(allow_null=True)  # noqa: N815
    workflow = serializers.CharField()
    channel = serializers.CharField()
    status = serializers.CharField()
    dueAt = serializers.DateTimeField()  # noqa: N815
    late = serializers.BooleanField()


class TriggerResponseSerializer(serializers.Serializer):
    """Response of POST /api/workflows/trigger (202 new, 200 repeated idempotencyKey)."""

    triggerId = serializers.IntegerField()  # noqa: N815
    trigger = serializers.CharField()
    phone = serializers.CharField(help_text="E.164")
    jobIds = serializers.ListField(child=serializers.CharField())  # noqa: N815
    jobs = TriggerJobSerializer(many=True)
    cancelledJobIds = serializers.ListField(child=serializers.CharField())  # noqa: N815
    rescheduledJobIds = serializers.ListField(child=serializers.CharField())  # noqa: N815
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="Problems that did not stop the request, e.g. 'no active workflow for trigger \"x\"' when no "
        "active workflow has this trigger (nothing is scheduled; the owners are notified). Empty when all is well.",
    )
    duplicate = serializers.BooleanField(help_text="True when this repeats an earlier idempotencyKey.")
