from django.db import connection
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmIApi(APIView):
    """Who the caller is and which tenant they are in (dashboards and API clients start here)."""

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
