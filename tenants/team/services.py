"""Writes on a tenant's team: invitations, roles, deactivation. Call inside the tenant's schema.

Owners only (checked here, so pages and any later API refuse the same things). A business
always keeps one active owner: demoting or deactivating the last one is refused, under a
lock on the Owners group row so two owners demoting each other cannot both succeed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from smtplib import SMTPException

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from bizmitra.errors import Conflict, NotFound, ValidationFailed
from tenants.permissions import user_is_owner
from tenants.services import AGENT_GROUP, OWNER_GROUP, owner_create
from tenants.team.choices import TeamRole
from tenants.team.models import Invitation

logger = logging.getLogger(__name__)


def _owner_required(by) -> None:
    if not user_is_owner(by):
        raise PermissionDenied("Only owners can manage the team.")


def _salt() -> str:
    # Per schema: an invitation id of tenant A means nothing in tenant B.
    return f"tenants.team.invitation:{connection.schema_name}"


def invitation_token(invitation: Invitation) -> str:
    """The signed, timestamped token of the invitation's link (valid for the invitation's lifetime)."""
    return signing.dumps({"i": invitation.pk}, salt=_salt())


def _member_role(user) -> str:
    return TeamRole.OWNER if user_is_owner(user) else TeamRole.AGENT


@transaction.atomic
def invitation_create(*, by, email: str, role: str, base_url: str) -> Invitation:
    """Invite ``email`` with ``role``; the email (with the link) goes out after commit.

    An earlier pending invitation of the same address is revoked (the newest link wins).
    """
    _owner_required(by)
    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except DjangoValidationError:
        errors["email"] = [f"“{email}” is not an email address." if email else "Enter their email address."]
    if role not in TeamRole.values:
        errors["role"] = ["Choose Owner or Agent."]
    if not errors:
        existing = get_user_model().objects.filter(username__iexact=email).first()
        if existing is not None:
            errors["email"] = [
                f"{email} is already on the team."
                if existing.is_active
                else f"{email} was deactivated: reactivate them in the list instead."
            ]
    if errors:
        raise ValidationFailed("Check the highlighted fields.", fields=errors)
    now = timezone.now()
    Invitation.objects.filter(email=email, accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    invitation = Invitation.objects.create(
        email=email,
        role=role,
        invited_by=by,
        expires_at=now + timedelta(seconds=settings.TEAM_INVITATION_MAX_AGE_SECONDS),
    )
    accept_url = base_url.rstrip("/") + f"/invitations/{invitation_token(invitation)}/"
    transaction.on_commit(
        lambda: invitation_email_send(invitation_id=invitation.pk, accept_url=accept_url), robust=True
    )
    return invitation


def invitation_email_send(*, invitation_id: int, accept_url: str) -> bool:
    """Send the invitation email through Django's configured backend; records the outcome
    on the row (the owner sees a failure and can copy the link instead)."""
    invitation = Invitation.objects.select_related("invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        return False
    business = getattr(connection, "tenant", None)
    business_name = getattr(business, "name", "") or "your team"
    inviter = invitation.invited_by.email if invitation.invited_by else "An owner"
    body = (
        f"{inviter} invited you to join {business_name} on BizMitra as {invitation.get_role_display().lower()}.\n\n"
        f"Set your password and sign in here (the link works once, until "
        f"{invitation.expires_at:%d %b %Y %H:%M} UTC):\n{accept_url}\n\n"
        "If you did not expect this, ignore this email."
    )
    try:
        send_mail(
            subject=f"Join {business_name} on BizMitra",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[invitation.email],
        )
    except (SMTPException, OSError) as exc:
        logger.warning("invitation %s: email not sent: %r", invitation.pk, exc)
        Invitation.objects.filter(pk=invitation.pk).update(email_error=str(exc)[:500] or exc.__class__.__name__)
        return False
    Invitation.objects.filter(pk=invitation.pk).update(email_sent_at=timezone.now(), email_error="")
    return True


def invitation_revoke(*, by, invitation_id: int) -> Invitation:
    _owner_required(by)
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("This invitation does not exist.")
    done = Invitation.objects.filter(pk=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not done:
        raise Conflict("This invitation was already accepted or revoked meanwhile.")
    invitation.refresh_from_db()
    return invitation


def invitation_for_token(*, token: str) -> Invitation:
    """The pending invitation a link names; ``ValidationFailed`` saying why it cannot be used."""
    try:
        data = signing.loads(token, salt=_salt(), max_age=settings.TEAM_INVITATION_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise ValidationFailed("This invitation has expired. Ask an owner to invite you again.") from None
    except signing.BadSignature:
        raise ValidationFailed("This invitation link is not valid. Check that you copied all of it.") from None
    invitation = Invitation.objects.filter(pk=data.get("i") if isinstance(data, dict) else None).first()
    if invitation is None or invitation.revoked_at:
        raise ValidationFailed("This invitation was withdrawn. Ask an owner to invite you again.")
    if invitation.accepted_at:
        raise ValidationFailed("This invitation was already used. Sign in with your email and password.")
    if invitation.expires_at <= timezone.now():
        raise ValidationFailed("This invitation has expired. Ask an owner to invite you again.")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, password: str, password_again: str):
    """Create the invited user with ``password`` and the invitation's role; the link is spent.

    Holds a row lock on the invitation, so two submissions of one link make one user.
    """
    invitation = invitation_for_token(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at or invitation.revoked_at:
        raise ValidationFailed("This invitation was already used. Sign in with your email and password.")
    errors: dict[str, list[str]] = {}
    user_model = get_user_model()
    try:
        validate_password(password or "", user=user_model(username=invitation.email, email=invitation.email))
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if not errors and password != password_again:
        errors["password_again"] = ["The two passwords are not the same."]
    if errors:
        raise ValidationFailed("Choose a password.", fields=errors)
    if user_model.objects.filter(username__iexact=invitation.email).exists():
        raise ValidationFailed("An account with this email exists already. Sign in instead.")
    user = owner_create(email=invitation.email, password=password, is_owner=invitation.role == TeamRole.OWNER)
    invitation.accepted_at = timezone.now()
    invitation.accepted_user = user
    invitation.save(update_fields=["accepted_at", "accepted_user"])
    return user


def _active_owner_ids() -> set[int]:
    users = get_user_model().objects.filter(is_active=True)
    return set(users.filter(is_superuser=True).values_list("pk", flat=True)) | set(
        users.filter(groups__name=OWNER_GROUP).values_list("pk", flat=True)
    )


def _lock_team() -> None:
    # One lock for every change of who owns the business (see the module docstring).
    group, _ = Group.objects.get_or_create(name=OWNER_GROUP)
    Group.objects.select_for_update().get(pk=group.pk)


def _member_get(member_id: int):
    member = get_user_model().objects.filter(pk=member_id).first()
    if member is None:
        raise NotFound("This team member does not exist.")
    return member


@transaction.atomic
def member_role_set(*, by, member_id: int, role: str, expected_role: str):
    """Make a member an owner or an agent. ``expected_role`` is the role the owner saw:
    if someone changed it meanwhile, ``Conflict``. The last active owner stays an owner."""
    _owner_required(by)
    if role not in TeamRole.values:
        raise ValidationFailed("Choose Owner or Agent.", fields={"role": ["Choose Owner or Agent."]})
    _lock_team()
    member = _member_get(member_id)
    current = _member_role(member)
    if expected_role and current != expected_role:
        raise Conflict(f"{member.email} was changed by someone else meanwhile: they are now {current}.")
    if current == role:
        return member
    if role == TeamRole.AGENT and _active_owner_ids() == {member.pk}:
        raise ValidationFailed(
            f"{member.email} is the last owner: make someone else an owner first.", fields={"role": ["Last owner."]}
        )
    owners, _ = Group.objects.get_or_create(name=OWNER_GROUP)
    agents, _ = Group.objects.get_or_create(name=AGENT_GROUP)
    if role == TeamRole.OWNER:
        member.groups.remove(agents)
        member.groups.add(owners)
        member.is_superuser = True  # as owner_create: owners manage their tenant's admin
    else:
        member.groups.remove(owners)
        member.groups.add(agents)
        member.is_superuser = False
    member.save(update_fields=["is_superuser"])
    member.__dict__.pop("_bizmitra_is_owner", None)
    return member


@transaction.atomic
def member_active_set(*, by, member_id: int, active: bool):
    """Deactivate (cannot sign in any more; their sessions stop working) or reactivate a
    member. Nobody deactivates themselves, and the last active owner stays."""
    _owner_required(by)
    _lock_team()
    member = _member_get(member_id)
    if member.is_active == active:
        state = "active" if active else "deactivated"
        raise Conflict(f"{member.email} is already {state} (changed by someone else meanwhile).")
    if not active:
        if member.pk == by.pk:
            raise ValidationFailed("You cannot deactivate yourself: ask another owner.")
        if _active_owner_ids() == {member.pk}:
            raise ValidationFailed(f"{member.email} is the last owner: make someone else an owner first.")
    member.is_active = active
    member.save(update_fields=["is_active"])
    return member
