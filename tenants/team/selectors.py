"""Reads on a tenant's team (call inside the tenant's schema); owners only."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from tenants.permissions import user_is_owner
from tenants.services import OWNER_GROUP
from tenants.team.choices import TeamRole
from tenants.team.models import Invitation


@dataclass(frozen=True)
class Member:
    user: object
    role: str
    is_self: bool


def team_member_list(*, user) -> list[Member]:
    """Everyone who can (or could) sign in to this tenant, owners first; two queries."""
    if not user_is_owner(user):
        raise PermissionDenied("Only owners can manage the team.")
    users = list(get_user_model().objects.order_by("-is_active", "email").prefetch_related("groups"))
    members = []
    for u in users:
        owner = u.is_superuser or any(g.name == OWNER_GROUP for g in u.groups.all())
        members.append(Member(user=u, role=TeamRole.OWNER if owner else TeamRole.AGENT, is_self=u.pk == user.pk))
    members.sort(key=lambda m: (not m.user.is_active, m.role != TeamRole.OWNER, m.user.email))
    return members


def invitation_pending_list(*, user) -> list[Invitation]:
    if not user_is_owner(user):
        raise PermissionDenied("Only owners can manage the team.")
    return list(
        Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("invited_by")
        .order_by("-created_at")
    )
