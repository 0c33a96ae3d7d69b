"""``/api/templates/`` and ``/api/flow-rules/``: list, read, create and PATCH (no PUT, no DELETE).

Tenant-authenticated (API key, JWT or session on the tenant's domain), paginated, filtered
by ``templates.filters``. Writes go through ``templates.services``.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from templates.api.serializers import FlowRuleSerializer, MessageTemplateSerializer
from templates.filters import FlowRuleFilter, MessageTemplateFilter
from templates.selectors import flow_rule_list, template_list
from templates.services import (
    flow_rule_create,
    flow_rule_update,
    meta_templates_sync,
    template_create,
    template_update,
)


class _ListCreatePatch(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    http_method_names = ["get", "post", "patch", "head", "options"]


class MessageTemplateViewSet(_ListCreatePatch):
    serializer_class = MessageTemplateSerializer
    filterset_class = MessageTemplateFilter
    lookup_field = "key"

    def get_queryset(self):
        return template_list()

    def perform_create(self, serializer):
        serializer.instance = template_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = template_update(template=serializer.instance, **serializer.validated_data)

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        response.data = self.get_serializer(template_list().get(key=response.data["key"])).data
        return response

    def update(self, request, *args, **kwargs):
        super().update(request, *args, **kwargs)
        # Re-read so the answer shows the saved buttons/rows, not the prefetched ones.
        return Response(self.get_serializer(template_list().get(key=kwargs["key"])).data)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="sync")
    def sync(self, request):
        """Fetch the Meta-approved templates of the tenant's WhatsApp Business account(s)."""
        result = meta_templates_sync()
        return Response(
            {
                "created": result.created,
                "updated": result.updated,
                "deactivated": result.deactivated,
                "waba_ids": list(result.waba_ids),
            },
            status=status.HTTP_200_OK,
        )


class FlowRuleViewSet(_ListCreatePatch):
    serializer_class = FlowRuleSerializer
    filterset_class = FlowRuleFilter

    def get_queryset(self):
        return flow_rule_list()

    def perform_create(self, serializer):
        serializer.instance = flow_rule_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = flow_rule_update(rule=serializer.instance, **serializer.validated_data)
