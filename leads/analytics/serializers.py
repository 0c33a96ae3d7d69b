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


class AnalyticsOutputSerializer(serializers.Serializer):
    range = RangeSerializer()
    totals = TotalsSerializer()
    messages = MessagesDaySerializer(many=True)
    who_answered = WhoAnsweredSerializer()
    delivery = DeliverySerializer()
    leads = LeadsSerializer()
