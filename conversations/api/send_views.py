"""Send API: ``POST /api/messages/`` queues one outbound WhatsApp message.

Served on the tenant's own domain; the DRF defaults authenticate (session, JWT, ``Bearer``
tenant API key). The body mirrors Meta's send request: ``to``, ``type`` and the object
named by ``type`` (``{"type": "text", "text": "Hello"}``, ``{"type": "template",
"template": {...}}``, ...), plus an optional ``idempotency_key`` and Meta's
``context.message_id`` to quote a message. Answers 202 once the message is queued; the send
itself happens in a worker (``message.status`` events and the read API show its progress).
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from bizmitra.errors import ValidationFailed
from bizmitra.graph_api.payloads import SUPPORTED_TYPES
from conversations.services.outbound import message_send


class MessageSendApi(APIView):
    class InputSerializer(serializers.Serializer):
        to = serializers.CharField(max_length=64, help_text="E.164 phone number (+15551234567) or BSUID")
        type = serializers.ChoiceField(choices=sorted(SUPPORTED_TYPES))
        idempotency_key = serializers.CharField(max_length=255, required=False, allow_null=True)
        context = serializers.DictField(required=False, help_text='{"message_id": "wamid..."} to quote a message')

    class OutputSerializer(serializers.Serializer):
        message_id = serializers.IntegerField()
        status = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            202: OutputSerializer,
            409: OpenApiResponse(description="idempotency_key already used; body carries the original message_id"),
            422: OpenApiResponse(
                description="invalid message, window_closed outside the 24-hour window, or opted_out contact"
            ),
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            # 422 like every other refusal of this endpoint (DRF alone would answer 400).
            raise ValidationFailed("Invalid message.", fields=serializer.errors)
        data = serializer.validated_data
        message_type = data["type"]
        if message_type not in request.data:
            raise ValidationFailed(
                f"The '{message_type}' object is required.", fields={message_type: ["This field is required."]}
            )
        context_wamid = (data.get("context") or {}).get("message_id") or ""
        user = request.user
        message = message_send(
            to=data["to"],
            type=message_type,
            content=request.data[message_type],
            idempotency_key=data.get("idempotency_key"),
            sent_by=user if isinstance(user, get_user_model()) else None,
            context_wamid=str(context_wamid),
        )
        output = self.OutputSerializer({"message_id": message.pk, "status": message.status})
        return Response(output.data, status=status.HTTP_202_ACCEPTED)
