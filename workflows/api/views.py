"""Workflows API.

Client websites (any host; ``X-Api-Key`` + ``X-Client-Code`` pick the tenant):

``POST /api/workflows/trigger`` body
``{trigger, phone, variables?, email?, conversationId?, baseTime?, delayMinutes?,
callbackUrl?, callbackMetadata?, idempotencyKey?, allowLate?}``
- 202 ``{triggerId, jobIds, jobs: [{id, workflowId, workflow, channel, status, dueAt, late}],
  cancelledJobIds, rescheduledJobIds, warnings, duplicate: false}`` — one job per active
  rule of the trigger. None is not an error (a client site must not break), but ``jobIds``
  is then empty and ``warnings`` says ``no active workflow for trigger "x"`` (also logged,
  and the owners get a notification);
- 200, the first response with ``duplicate: true``, for a repeated ``idempotencyKey``
  with the same body (nothing is scheduled again); 409 if the body differs;
- 401 wrong/missing key or client code; 400 unparseable JSON; 422 invalid fields,
  named as sent (``{"error": "validation_error", "fields": {"phone": [...]}}``).
Timing: due = ``baseTime`` (default now; ISO 8601, naive = the tenant's timezone)
+ ``delayMinutes`` (may be fractional or negative) when given, *instead of* each rule's
``delay_minutes``; otherwise + the rule's. A due time up to 60 s in the past is sent at
once; older is refused with 422 (field ``baseTime``/``delayMinutes``) unless
``allowLate: true``, which sends it at once. ``phone`` is normalised to E.164 (without
``+`` it is read as country code + number). Email rules need ``email``.

``GET /api/workflows/jobs/{id}`` (same headers): the job's state, attempts, message id and
callback delivery.

Tenant domain (session, JWT or ``Bearer`` API key): ``/api/workflows/`` CRUD of the rules,
and ``/api/workflows/callback-secret/`` (session-authenticated owners): GET says whether the
secret that signs callback PUTs (``X-BizMitra-Signature: sha256=<HMAC-SHA256 of the body>``)
is set, when it was rotated and a masked form; POST ``{fingerprint}`` rotates it and is the
only answer that carries the secret.
"""

from datetime import timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tenants.utils import schema_context
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from bizmitra.errors import ApplicationError, NotFound, ValidationFailed
from tenants.authentication import ClientApiKeyAuthentication
from tenants.permissions import IsOwner, IsOwnerOrApiKeyToWrite
from tenants.selectors import callback_secret_state, tenant_timezone
from tenants.services import tenant_callback_secret_rotate
from workflows import selectors
from workflows.api import schema as _schema  # noqa: F401 - registers the auth scheme
from workflows.api.serializers import TriggerInputSerializer, TriggerResponseSerializer, WorkflowSerializer
from workflows.filters import WorkflowFilterSet
from workflows.services import workflow_trigger_fire
from workflows.services.callbacks import SIGNATURE_HEADER

# Service argument → the name the client sent, so a 422 names the field as sent.
API_FIELD_NAMES = {
    "base_time": "baseTime",
    "delay": "delayMinutes",
    "callback_url": "callbackUrl",
    "callback_metadata": "callbackMetadata",
    "conversation_id": "conversationId",
    "idempotency_key": "idempotencyKey",
    "allow_late": "allowLate",
}


class WorkflowViewSet(viewsets.ModelViewSet):
    """The tenant's workflow rules (CRUD only, so a ModelViewSet)."""

    serializer_class = WorkflowSerializer
    filterset_class = WorkflowFilterSet
    permission_classes = [IsOwnerOrApiKeyToWrite]

    def get_queryset(self):
        return selectors.workflow_list()


class CallbackSecretOutputSerializer(serializers.Serializer):
    isSet = serializers.BooleanField(help_text="Whether the tenant has a signing secret yet.")
    rotatedAt = serializers.DateTimeField(
        allow_null=True, help_text="When an owner last rotated it; null if never (made at onboarding)."
    )
    masked = serializers.CharField(help_text="Its last 4 characters behind dots; empty when there is none.")
    fingerprint = serializers.CharField(help_text="A short hash telling versions apart; send it back to rotate.")
    signatureHeader = serializers.CharField()
    algorithm = serializers.CharField()


class CallbackSecretRotatedSerializer(CallbackSecretOutputSerializer):
    callbackSigningSecret = serializers.CharField(help_text="The new secret, in this response only.")


class CallbackSecretRotateInputSerializer(serializers.Serializer):
    fingerprint = serializers.CharField(help_text="The fingerprint last read from GET (another owner may rotate).")


class CallbackSecretApi(APIView):
    """The secret that signs this tenant's workflow callbacks (owners, signed in to the dashboard).

    GET says whether one is set, when it was rotated and a masked form; the secret itself is
    shown once, in the answer to the POST that rotates it (as on the API keys page).
    """

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsOwner]

    def _state(self, tenant) -> dict:
        state = callback_secret_state(tenant=tenant)
        return {
            "isSet": state["is_set"],
            "rotatedAt": state["rotated_at"].isoformat() if state["rotated_at"] else None,
            "masked": state["masked"],
            "fingerprint": state["fingerprint"],
            "signatureHeader": SIGNATURE_HEADER,
            "algorithm": "HMAC-SHA256 over the raw request body, hex, prefixed 'sha256='",
        }

    @extend_schema(responses=CallbackSecretOutputSerializer)
    def get(self, request):
        return Response(self._state(request.tenant))

    @extend_schema(
        request=CallbackSecretRotateInputSerializer,
        responses={
            200: CallbackSecretRotatedSerializer,
            409: OpenApiResponse(description="Rotated by someone else since that fingerprint was read."),
        },
    )
    def post(self, request):
        data = CallbackSecretRotateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        secret = tenant_callback_secret_rotate(
            tenant=request.tenant, expected_fingerprint=data.validated_data["fingerprint"], by=request.user
        )
        return Response({**self._state(request.tenant), "callbackSigningSecret": secret})


def _api_fields(fields: dict) -> dict:
    return {API_FIELD_NAMES.get(name, name): reasons for name, reasons in fields.items()}


class ClientApi(APIView):
    """Base of the host-agnostic endpoints: X-Api-Key + X-Client-Code, then the tenant's schema."""

    authentication_classes = [ClientApiKeyAuthentication]
    permission_classes = [permissions.IsAuthenticated]


class TriggerApi(ClientApi):
    @extend_schema(
        request=TriggerInputSerializer,
        responses={202: TriggerResponseSerializer, 200: TriggerResponseSerializer},
        description="Schedule the messages of every active workflow of `trigger` for `phone`. A trigger with no "
        "active workflow answers 202 with empty `jobIds` and `warnings: ['no active workflow for trigger \"x\"']`.",
    )
    def post(self, request):
        tenant = request.user.tenant
        serializer = TriggerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        errors: dict[str, list[str]] = {}
        base_time = None
        if data["baseTime"]:
            base_time = parse_datetime(data["baseTime"].strip())
            if base_time is None:
                errors["baseTime"] = ["An ISO 8601 date and time, e.g. 2026-02-23T10:00:00Z."]
            elif timezone.is_naive(base_time):
                base_time = timezone.make_aware(base_time, tenant_timezone(tenant=tenant))
        delay = None
        if data["delayMinutes"] is not None:
            try:
                delay = timedelta(minutes=data["delayMinutes"])
            except (OverflowError, ValueError):  # inf, nan, or past timedelta's ~2.7 million years
                errors["delayMinutes"] = ["A finite number of minutes, within the scheduling horizon."]
        if errors:
            raise ValidationFailed("The trigger request is invalid.", fields=errors)

        with schema_context(tenant.schema_name):
            try:
                result = workflow_trigger_fire(
                    trigger=data["trigger"].strip(),
                    phone=data["phone"],
                    variables=data["variables"],
                    email=data["email"].strip(),
                    conversation_id=data["conversationId"],
                    base_time=base_time,
                    delay=delay,
                    callback_url=data["callbackUrl"].strip(),
                    callback_metadata=data["callbackMetadata"],
                    idempotency_key=data["idempotencyKey"] or None,
                    allow_late=data["allowLate"],
                    notify_owners=True,
                )
            except ApplicationError as exc:
                exc.fields = _api_fields(exc.fields)
                raise
        code = status.HTTP_200_OK if result.duplicate else status.HTTP_202_ACCEPTED
        return Response(result.response, status=code)


def job_representation(job) -> dict:
    return {
        "id": str(job.pk),
        "trigger": job.trigger,
        "workflowId": job.workflow_id,
        "workflow": job.workflow.name if job.workflow else "",
        "channel": job.channel,
        "status": job.status,
        "dueAt": job.due_at.isoformat(),
        "nextRunAt": job.next_run_at.isoformat(),
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "startedAt": job.started_at.isoformat() if job.started_at else None,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        "lastError": job.last_error,
        "messageId": job.message_id,
        "messageStatus": selectors.job_message_status(job=job),
        "callbackMetadata": job.callback_metadata,
        "callback": {
            "url": job.callback_url,
            "state": job.callback_state,
            "attempts": job.callback_attempts,
            "lastStatusCode": job.callback_last_status_code,
            "lastError": job.callback_last_error,
            "deliveredAt": job.callback_delivered_at.isoformat() if job.callback_delivered_at else None,
        },
        "createdAt": job.created_at.isoformat(),
    }


class JobDetailApi(ClientApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, job_id: str):
        with schema_context(request.user.tenant.schema_name):
            job = selectors.job_get(job_id=job_id)
            if job is None:
                raise NotFound("No such job for this client.")
            return Response(job_representation(job))
