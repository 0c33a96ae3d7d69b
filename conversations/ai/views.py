"""AI assistant API (tenant domain; API key, JWT or session): settings and website knowledge.

Thin views: parse input, call one service or selector, render.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from bizmitra.errors import NotFound, ValidationFailed
from conversations.ai import serializers as s
from conversations.ai.knowledge import knowledge_fetch_start
from conversations.ai.selectors import ai_settings_get, knowledge_job_get
from conversations.ai.services import ai_settings_update
from tenants.permissions import IsOwnerOrApiKeyToWrite


def _validated(serializer_class, data, *, partial: bool = False) -> dict:
    serializer = serializer_class(data=data, partial=partial)
    if not serializer.is_valid():
        raise ValidationFailed("Invalid input.", fields=serializer.errors)
    return serializer.validated_data


class AISettingsApi(APIView):
    permission_classes = [IsOwnerOrApiKeyToWrite]

    @extend_schema(responses=s.AISettingsOutputSerializer)
    def get(self, request):
        return Response(s.AISettingsOutputSerializer(ai_settings_get()).data)

    @extend_schema(request=s.AISettingsInputSerializer, responses=s.AISettingsOutputSerializer)
    def patch(self, request):
        changes = _validated(s.AISettingsInputSerializer, request.data, partial=True)
        return Response(s.AISettingsOutputSerializer(ai_settings_update(**changes)).data)


class KnowledgeFetchApi(APIView):
    """Start fetching a website into the AI knowledge; poll the returned job."""

    @extend_schema(request=s.KnowledgeFetchInputSerializer, responses={202: s.KnowledgeJobOutputSerializer})
    def post(self, request):
        data = _validated(s.KnowledgeFetchInputSerializer, request.data)
        job = knowledge_fetch_start(url=data["url"], requested_by=request.user)
        return Response(s.KnowledgeJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class KnowledgeJobApi(APIView):
    @extend_schema(responses=s.KnowledgeJobOutputSerializer)
    def get(self, request, job_id):
        job = knowledge_job_get(job_id=job_id)
        if job is None:
            raise NotFound("No such knowledge fetch job.")
        return Response(s.KnowledgeJobOutputSerializer(job).data)
