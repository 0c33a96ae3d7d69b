"""API of the conversation engine: human takeover of a conversation, agent replies, bots.

Served on the tenant's own domain under ``/api/``; the DRF defaults authenticate (session,
JWT, ``Bearer`` tenant API key). Commands answer with the resulting state; handing over or
returning a conversation that already is in that state is not an error (``changed: false``).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from bizmitra.errors import ValidationFailed
from conversations.engine import selectors
from conversations.engine.bots import bot_disable, bot_enable, bot_schedule_create
from conversations.engine.handoff import (
    ENGINE_KEY_PREFIXES,
    conversation_agent_reply,
    conversation_handoff,
    conversation_return_to_bot,
)
from conversations.models import Bot, BotSchedule
from conversations.selectors import conversation_get


class TakeoverOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    handoff_reason = serializers.CharField()
    handed_off_at = serializers.DateTimeField(allow_null=True)
    assigned_agent = serializers.IntegerField(source="assigned_agent_id", allow_null=True)
    changed = serializers.BooleanField()


def _takeover_response(conversation, changed: bool) -> Response:
    conversation.changed = changed
    return Response(TakeoverOutputSerializer(conversation).data)


class ConversationHandoffApi(APIView):
    """Hand the conversation to a person: the bot stays silent until it is returned."""

    class HandoffInputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")

    @extend_schema(request=HandoffInputSerializer, responses={200: TakeoverOutputSerializer})
    def post(self, request, pk: int):
        serializer = self.HandoffInputSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationFailed("Invalid input.", fields=serializer.errors)
        conversation = conversation_get(conversation_id=pk)
        reason = serializer.validated_data["reason"] or "taken over through the API"
        changed = conversation_handoff(conversation=conversation, by=request.user, reason=reason)
        return _takeover_response(conversation, changed)


class ConversationReturnToBotApi(APIView):
    """Give a handed-off conversation back to the bot."""

    @extend_schema(request=None, responses={200: TakeoverOutputSerializer})
    def post(self, request, pk: int):
        conversation = conversation_get(conversation_id=pk)
        changed = conversation_return_to_bot(
            conversation=conversation, by=request.user, reason="returned through the API"
        )
        return _takeover_response(conversation, changed)


class ConversationReplyApi(APIView):
    """A person answers in the conversation (queued like every send); the bot goes silent."""

    class ReplyInputSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=4096, trim_whitespace=True)
        idempotency_key = serializers.CharField(max_length=255, required=False, allow_null=True)

    class ReplyOutputSerializer(serializers.Serializer):
        message_id = serializers.IntegerField()
        status = serializers.CharField()

    @extend_schema(
        request=ReplyInputSerializer,
        responses={
            202: ReplyOutputSerializer,
            409: OpenApiResponse(description="idempotency_key already used"),
            422: OpenApiResponse(description="invalid text, or window_closed outside the 24-hour window"),
        },
    )
    def post(self, request, pk: int):
        serializer = self.ReplyInputSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationFailed("Invalid reply.", fields=serializer.errors)
        data = serializer.validated_data
        key = data.get("idempotency_key")
        if key and key.startswith(ENGINE_KEY_PREFIXES):
            raise ValidationFailed("Reserved key.", fields={"idempotency_key": ["This prefix is the bot's own."]})
        conversation = conversation_get(conversation_id=pk)
        message = conversation_agent_reply(
            conversation=conversation, text=data["text"], by=request.user, idempotency_key=key
        )
        output = self.ReplyOutputSerializer({"message_id": message.pk, "status": message.status})
        return Response(output.data, status=status.HTTP_202_ACCEPTED)


class BotSerializer(serializers.ModelSerializer):
    phone_numbers = serializers.SerializerMethodField()
    working_hours = serializers.SerializerMethodField()
    auto_return_after_minutes = serializers.SerializerMethodField()

    class Meta:
        model = Bot
        fields = [
            "id",
            "name",
            "is_default",
            "is_enabled",
            "auto_response",
            "ai_enabled",
            "lead_capture",
            "timezone",
            "working_hours_enabled",
            "working_hours",
            "away_message",
            "phone_numbers",
            "auto_return_after_minutes",
            "updated_at",
        ]

    def get_phone_numbers(self, bot: Bot) -> list[str]:
        return [n.phone_number_id for n in bot.phone_numbers.all()]

    def get_working_hours(self, bot: Bot) -> list[dict]:
        return [
            {"weekday": h.weekday, "opens_at": h.opens_at.strftime("%H:%M"), "closes_at": h.closes_at.strftime("%H:%M")}
            for h in bot.working_hours.all()
        ]

    def get_auto_return_after_minutes(self, bot: Bot) -> int:
        from conversations.engine.handoff import handoff_settings_for

        return handoff_settings_for(bot).auto_return_after_minutes


class BotListApi(APIView):
    @extend_schema(responses={200: BotSerializer(many=True)})
    def get(self, request):
        return Response(BotSerializer(selectors.bot_list(), many=True).data)


class BotDetailApi(APIView):
    @extend_schema(responses={200: BotSerializer})
    def get(self, request, pk: int):
        return Response(BotSerializer(selectors.bot_get(bot_id=pk)).data)


class _BotSwitchApi(APIView):
    enabled: bool

    @extend_schema(request=None, responses={200: BotSerializer})
    def post(self, request, pk: int):
        bot = selectors.bot_get(bot_id=pk)
        switch = bot_enable if self.enabled else bot_disable
        switch(bot=bot, by=request.user, detail="through the API")
        return Response(BotSerializer(selectors.bot_get(bot_id=pk)).data)


class BotEnableApi(_BotSwitchApi):
    """Switch the bot on now (audited)."""

    enabled = True


class BotDisableApi(_BotSwitchApi):
    """Switch the bot off now: it answers nothing until enabled (audited)."""

    enabled = False


class BotScheduleSerializer(serializers.ModelSerializer):
    class Meta:
        model = BotSchedule
        fields = ["id", "enable_at", "disable_at", "enable_applied_at", "disable_applied_at", "note", "created_at"]
        read_only_fields = ["enable_applied_at", "disable_applied_at", "created_at"]


class BotScheduleListApi(APIView):
    """A bot's schedules (GET), or a new one (POST ``enable_at`` and/or ``disable_at``)."""

    @extend_schema(responses={200: BotScheduleSerializer(many=True)})
    def get(self, request, pk: int):
        bot = selectors.bot_get(bot_id=pk)
        return Response(BotScheduleSerializer(selectors.bot_schedule_list(bot=bot), many=True).data)

    @extend_schema(request=BotScheduleSerializer, responses={201: BotScheduleSerializer})
    def post(self, request, pk: int):
        bot = selectors.bot_get(bot_id=pk)
        serializer = BotScheduleSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationFailed("Invalid schedule.", fields=serializer.errors)
        data = serializer.validated_data
        schedule = bot_schedule_create(
            bot=bot,
            enable_at=data.get("enable_at"),
            disable_at=data.get("disable_at"),
            note=data.get("note", ""),
            by=request.user,
        )
        return Response(BotScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)
