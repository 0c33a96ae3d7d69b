from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

WHOAMI_OUTPUT = inline_serializer(
    "WhoAmIOutput",
    {
        "tenant": inline_serializer(
            "WhoAmITenant",
            {
                "name": serializers.CharField(),
                "client_code": serializers.CharField(),
                "schema": serializers.CharField(),
            },
        ),
        "principal": inline_serializer(
            "WhoAmIPrincipal",
            {"kind": serializers.ChoiceField(choices=["api_key", "user"]), "email": serializers.CharField()},
        ),
    },
)


class WhoAmIApi(APIView):
    """Who the caller is and which tenant they are in (dashboards and API clients start here)."""

    @extend_schema(responses=WHOAMI_OUTPUT)
    def get(self, request):
        tenant = request.tenant
        user = request.user
        return Response(
            {
                "tenant": {"name": tenant.name, "client_code": tenant.client_code, "schema": connection.schema_name},
                "principal": {
                    "kind": "api_key" if getattr(user, "pk", None) is None else "user",
                    "email": getattr(user, "email", ""),
                },
            }
        )
