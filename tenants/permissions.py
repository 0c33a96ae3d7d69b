"""DRF permissions shared by every tenant API: who may change a tenant's settings."""

from rest_framework import permissions

from tenants.authentication import ApiKeyPrincipal
from tenants.services import OWNER_GROUP


def user_is_owner(user) -> bool:
    """A person who runs the business (superuser or the Owners group); never an API key."""
    if user is None or isinstance(user, ApiKeyPrincipal) or not user.is_authenticated:
        return False
    return bool(user.is_superuser or user.groups.filter(name=OWNER_GROUP).exists())


class IsOwnerOrApiKeyToWrite(permissions.BasePermission):
    """Anyone signed in to the tenant reads; owners and the tenant's API keys change."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS or isinstance(user, ApiKeyPrincipal):
            return True
        return user_is_owner(user)


class IsOwner(permissions.BasePermission):
    """Owners only (no API key)."""

    def has_permission(self, request, view):
        return user_is_owner(request.user)
