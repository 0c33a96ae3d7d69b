"""The shape of ``GET /api/analytics/`` (documented in the OpenAPI schema by drf-spectacular)."""

from rest_framework import serializers


class RangeSerializer(serializers.Serializer):
    first_day = serializers.DateField()
    last_day = serializers.DateField(help_text="Inclusive.")
    preset = serializers.CharField(allow_blank=True)
    timezone = serializers.CharField(help_text="The tenant's IANA time zone; days are its calendar days.")
    days = serializers.IntegerField()


class MessagesDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    inbound = serializers.IntegerField()
    outbound = serializers.IntegerField()
    started = serializers.IntegerField(
        help_text="Conversations started: inbound messages from a customer who had not written in the 24 hours before."
    )


class ResponseTimeSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=["bot", "human", "resolution"])
    label = serializers.CharField()
    count = serializers.IntegerField(help_text="Conversations (or resolves) measured.")
    unanswered = serializers.IntegerField(
        allow_null=True, help_text="Conversations started that got no such reply within 24 hours (null for resolution)."
    )
    p50_seconds = serializers.FloatField(
        allow_null=True, help_text="Median, in seconds; from fixed-bucket histograms, interpolated within a bucket."
    )
    p90_seconds = serializers.FloatField(allow_null=True, help_text="90th percentile, in seconds (as p50).")


class ResponseTimesSerializer(serializers.Serializer):
    started = serializers.IntegerField()
    rows = ResponseTimeSerializer(many=True)


class AIBotSerializer(serializers.Serializer):
    bot_id = serializers.IntegerField(allow_null=True, help_text="Null: calls not made for a bot's message.")
    name = serializers.CharField()
    calls = serializers.IntegerField(help_text="Attempts that made at least one request to the AI endpoint.")
    refused = serializers.IntegerField(help_text="Attempts refused before any request (budget, hourly cap, AI off).")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.FloatField(help_text="Estimated, at the configured price per million tokens.")


class AIDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    calls = serializers.IntegerField()
    tokens = serializers.IntegerField()
    budget_share = serializers.FloatField(allow_null=True, help_text="tokens / daily token budget (null: budget 0).")


class AIPriceSerializer(serializers.Serializer):
    prompt = serializers.FloatField()
    completion = serializers.FloatField()


class AIUsageSerializer(serializers.Serializer):
    daily_token_budget = serializers.IntegerField(help_text="The tenant's budget now (AI settings).")
    currency = serializers.CharField()
    price_per_million_tokens = AIPriceSerializer()
    calls = serializers.IntegerField()
    refused = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.FloatField()
    days_over_budget = serializers.IntegerField()
    bots = AIBotSerializer(many=True)
    days = AIDaySerializer(many=True)


class HoursRowSerializer(serializers.Serializer):
    weekday = serializers.CharField()
    hours = serializers.ListField(child=serializers.IntegerField(), help_text="Inbound messages in hours 0–23.")


class PeakSerializer(serializers.Serializer):
    weekday = serializers.CharField()
    hour = serializers.IntegerField()
    count = serializers.IntegerField()


class BusiestHoursSerializer(serializers.Serializer):
    rows = HoursRowSerializer(many=True, help_text="Monday first; hours on the tenant's clock.")
    max = serializers.IntegerField()
    peak = PeakSerializer(allow_null=True)


class AnswerRowSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=["builtin", "rules", "ai", "fallback", "humans"])
    label = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField(help_text="Of all answers in the range (0–1).")


class WhoAnsweredSerializer(serializers.Serializer):
    rows = AnswerRowSerializer(many=True)
    total = serializers.IntegerField()
    automatic_share = serializers.FloatField(
        help_text="Answered by built-in intents, rules or fallback: no AI, no person."
    )


class DeliveryStepSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=["sent", "delivered", "read", "failed"])
    label = serializers.CharField()
    count = serializers.IntegerField(help_text="Outbound messages that got at least this far.")
    share = serializers.FloatField()


class DeliveryErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(allow_null=True, help_text="Meta's error code.")
    title = serializers.CharField()
    count = serializers.IntegerField()


class DeliverySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    steps = DeliveryStepSerializer(many=True)
    errors = DeliveryErrorSerializer(many=True)


class FunnelStageSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    reached = serializers.IntegerField(help_text="Leads created in the range that reached this stage or a later one.")
    now = serializers.IntegerField(help_text="Of those, in this stage now.")
    conversion = serializers.FloatField(help_text="reached / leads created in the range.")


class LeadSourceSerializer(serializers.Serializer):
    source = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class LeadsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    stages = FunnelStageSerializer(many=True)
    sources = LeadSourceSerializer(many=True)


class TotalsSerializer(serializers.Serializer):
    inbound = serializers.IntegerField()
    outbound = serializers.IntegerField()
    started = serializers.IntegerField()


class AnalyticsOutputSerializer(serializers.Serializer):
    range = RangeSerializer()
    totals = TotalsSerializer()
    messages = MessagesDaySerializer(many=True)
    response_times = ResponseTimesSerializer()
    who_answered = WhoAnsweredSerializer()
    ai = AIUsageSerializer()
    delivery = DeliverySerializer()
    leads = LeadsSerializer()
    busiest_hours = BusiestHoursSerializer()
