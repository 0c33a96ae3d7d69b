"""API shapes of templates and flow rules. Templates and next templates are named by key."""

from rest_framework import serializers

from templates.models import FlowRule, MessageTemplate, TemplateButton, TemplateListRow


class TemplateKeyField(serializers.SlugRelatedField):
    """A template named by its key. Only this tenant's templates exist in its schema, so a
    key from another tenant (or a typo) is refused like any unknown key."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "key")
        kwargs.setdefault("queryset", MessageTemplate.objects.all())
        kwargs.setdefault("error_messages", {"does_not_exist": "No template of this business has the key {value}."})
        super().__init__(**kwargs)


class ButtonSerializer(serializers.ModelSerializer):
    payload_id = serializers.CharField(required=False, help_text="Give it to update an existing button.")
    next_template = TemplateKeyField(required=False, allow_null=True)

    class Meta:
        model = TemplateButton
        fields = ["payload_id", "title", "next_template", "next_state"]


class RowSerializer(serializers.ModelSerializer):
    payload_id = serializers.CharField(required=False, help_text="Give it to update an existing row.")
    next_template = TemplateKeyField(required=False, allow_null=True)

    class Meta:
        model = TemplateListRow
        fields = ["payload_id", "section_title", "title", "description", "next_template", "next_state"]


class MessageTemplateSerializer(serializers.ModelSerializer):
    buttons = ButtonSerializer(many=True, required=False)
    rows = RowSerializer(many=True, required=False)

    class Meta:
        model = MessageTemplate
        fields = [
            "key",
            "name",
            "kind",
            "header_text",
            "body",
            "footer",
            "list_button",
            "variables",
            "description",
            "is_active",
            "buttons",
            "rows",
            "meta_name",
            "meta_language",
            "meta_category",
            "meta_status",
            "meta_parameter_format",
            "meta_components",
            "meta_synced_at",
            "header_media_link",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "key",
            "meta_name",
            "meta_language",
            "meta_category",
            "meta_status",
            "meta_parameter_format",
            "meta_components",
            "meta_synced_at",
            "created_at",
            "updated_at",
        ]


class FlowRuleSerializer(serializers.ModelSerializer):
    template = TemplateKeyField(required=False, allow_null=True)
    # Checked against the tenant's bots by flow_rule_create/update (422 on an unknown id).
    bot = serializers.IntegerField(
        source="bot_id",
        required=False,
        allow_null=True,
        help_text="Id of the bot this rule is limited to; null: every bot of the business.",
    )

    class Meta:
        model = FlowRule
        fields = [
            "id",
            "name",
            "priority",
            "is_active",
            "match_type",
            "pattern",
            "required_state",
            "action",
            "template",
            "next_state",
            "bot",
            "builtin_intent",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "builtin_intent", "created_at", "updated_at"]
