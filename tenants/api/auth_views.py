"""JWT issuing for the tenant API: tokens carry the schema they were issued in."""

from django.db import connection
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView

from tenants.authentication import SCHEMA_CLAIM


class TenantTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token[SCHEMA_CLAIM] = connection.schema_name
        return token


class TenantTokenObtainPairView(TokenObtainPairView):
    serializer_class = TenantTokenObtainPairSerializer
