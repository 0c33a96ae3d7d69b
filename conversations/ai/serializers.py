from django.db import connection
from rest_framework import serializers

from conversations.ai import budgets
from conversations.ai.selectors import ai_endpoint_configured
from conversations.models import AIAssistantSettings, KnowledgeFetchJob

KNOWLEDGE_INPUT_MAX_CHARS = 100_000


class AISettingsOutputSerializer(serializers.ModelSerializer):
    # The tenant's own provider key is write-only: the API only says whether one is set.
    api_key_set = serializers.SerializerMethodField()
    tokens_used_today = serializers.SerializerMethodField()
    endpoint_configured = serializers.SerializerMethodField(
        help_text="False: no key and no OpenAI-compatible base URL of our own are configured, so the AI is off "
        "whatever `enabled` says (no call is made; unmatched messages get the fallback)."
    )
    # None until the tenant saves its settings the first time (the defaults are shown).
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = AIAssistantSettings
        fields = [
            "enabled",
            "model",
            "system_prompt",
            "temperature",
            "api_key_set",
            "endpoint_configured",
            "business_profile",
            "knowledge",
            "knowledge_source_url",
            "knowledge_fetched_at",
            "daily_token_budget",
            "tokens_used_today",
            "per_contact_hourly_cap",
            "timeout_seconds",
            "updated_at",
        ]

    def get_api_key_set(self, obj) -> bool:
        return bool(obj.api_key)

    def get_endpoint_configured(self, obj) -> bool:
        return ai_endpoint_configured(config=obj)

    def get_tokens_used_today(self, obj) -> int:
        return budgets.tokens_used_today(schema_name=connection.schema_name)


class AISettingsInputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    model = serializers.CharField(max_length=100, allow_blank=True)
    system_prompt = serializers.CharField(max_length=20_000, allow_blank=True, trim_whitespace=False)
    temperature = serializers.FloatField(min_value=0.0, max_value=2.0)
    api_key = serializers.CharField(max_length=500, allow_blank=True, write_only=True)
    business_profile = serializers.CharField(max_length=20_000, allow_blank=True, trim_whitespace=False)
    knowledge = serializers.CharField(max_length=KNOWLEDGE_INPUT_MAX_CHARS, allow_blank=True, trim_whitespace=False)
    daily_token_budget = serializers.IntegerField(min_value=0, max_value=2_000_000_000)
    per_contact_hourly_cap = serializers.IntegerField(min_value=0, max_value=10_000)
    timeout_seconds = serializers.FloatField(min_value=1.0, max_value=120.0)


class KnowledgeFetchInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)


class KnowledgeJobOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = KnowledgeFetchJob
        fields = [
            "id",
            "url",
            "status",
            "pages_fetched",
            "pages_skipped",
            "pages_total",
            "max_pages",
            "max_depth",
            "chars_extracted",
            "pages",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
