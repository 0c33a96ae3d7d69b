"""API keys, team and WhatsApp numbers pages (htmx fragments beside each page)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bizmitra.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from tenants import selectors, services
from tenants.settings_pages.access import owner_required
from tenants.team import selectors as team_selectors
from tenants.team import services as team_services
from tenants.team.choices import TeamRole

T = "tenants/settings/"


def _tenant(request):
    return request.tenant


def _status(exc: ApplicationError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def _fields(exc: ApplicationError) -> dict:
    return {
        name: reasons[0] if isinstance(reasons, list) and reasons else reasons for name, reasons in exc.fields.items()
    }


# -- API keys ---------------------------------------------------------------------------------


def _keys_context(request, **extra) -> dict:
    tenant = _tenant(request)
    secret = str(tenant.callback_signing_secret or "")
    return {
        "keys": selectors.api_key_list(tenant=tenant, user=request.user),
        "client_code": tenant.client_code,
        "trigger_url": request.build_absolute_uri("/api/workflows/trigger"),
        "secret_fingerprint": services.secret_fingerprint(secret),
        "has_secret": bool(secret),
        "secret_rotated_at": tenant.callback_secret_rotated_at,
        **extra,
    }


def _keys_render(request, section: str, status: int = 200, **extra) -> HttpResponse:
    context = _keys_context(request, **extra)
    template = {"keys": T + "_api_keys.html", "callback": T + "_callback_secret.html"}[section]
    if not request.htmx:
        template = T + "api_keys.html"
    return render(request, template, context, status=status)


@owner_required
@require_GET
def api_keys_page(request: HttpRequest) -> HttpResponse:
    return render(request, T + "api_keys.html", _keys_context(request))


@owner_required
@require_POST
def api_key_create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    try:
        issued = services.api_key_issue(tenant=_tenant(request), name=name, by=request.user)
    except ValidationFailed as exc:
        return _keys_render(request, "keys", _status(exc), errors=_fields(exc), draft_name=name)
    return _keys_render(request, "keys", 201, issued=issued)


@owner_required
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    if request.method == "GET":  # the confirm step
        return _keys_render(request, "keys", confirm_id=key_id)
    try:
        revoked = services.api_key_revoke(tenant=_tenant(request), api_key_id=key_id, by=request.user)
    except NotFound:
        raise Http404("No such API key.") from None
    except Conflict as exc:
        return _keys_render(request, "keys", 409, keys_error=exc.message)
    return _keys_render(request, "keys", notice=f"“{revoked.name}” is revoked: requests with it now get 401.")


@owner_required
@require_POST
def callback_secret_rotate(request: HttpRequest) -> HttpResponse:
    try:
        secret = services.tenant_callback_secret_rotate(
            tenant=_tenant(request), expected_fingerprint=request.POST.get("fingerprint", ""), by=request.user
        )
    except Conflict as exc:
        return _keys_render(request, "callback", 409, callback_error=exc.message)
    return _keys_render(request, "callback", new_secret=secret)


# -- team -------------------------------------------------------------------------------------


def _team_context(request, **extra) -> dict:
    return {
        "members": team_selectors.team_member_list(user=request.user),
        "invitations": team_selectors.invitation_pending_list(user=request.user),
        "roles": TeamRole.choices,
        **extra,
    }


def _team_render(request, status: int = 200, **extra) -> HttpResponse:
    template = T + ("_team.html" if request.htmx else "team.html")
    return render(request, template, _team_context(request, **extra), status=status)


@owner_required
@require_GET
def team_page(request: HttpRequest) -> HttpResponse:
    return render(request, T + "team.html", _team_context(request))


@owner_required
@require_POST
def team_invite(request: HttpRequest) -> HttpResponse:
    email, role = request.POST.get("email", ""), request.POST.get("role", TeamRole.AGENT)
    try:
        invitation = team_services.invitation_create(
            by=request.user, email=email, role=role, base_url=request.build_absolute_uri("/")
        )
    except ValidationFailed as exc:
        return _team_render(request, _status(exc), invite_errors=_fields(exc), draft={"email": email, "role": role})
    invitation.refresh_from_db()
    if invitation.email_error:
        notice = f"Invitation created, but the email could not be sent ({invitation.email_error})."
    else:
        notice = f"Invitation sent to {invitation.email}."
    return _team_render(request, 201, notice=notice)


@owner_required
@require_POST
def team_invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    try:
        invitation = team_services.invitation_revoke(by=request.user, invitation_id=invitation_id)
    except NotFound:
        raise Http404("No such invitation.") from None
    except Conflict as exc:
        return _team_render(request, 409, team_error=exc.message)
    return _team_render(request, notice=f"The invitation of {invitation.email} is withdrawn.")


@owner_required
@require_POST
def team_member_role(request: HttpRequest, member_id: int) -> HttpResponse:
    try:
        member = team_services.member_role_set(
            by=request.user,
            member_id=member_id,
            role=request.POST.get("role", ""),
            expected_role=request.POST.get("expected_role", ""),
        )
    except NotFound:
        raise Http404("No such team member.") from None
    except ApplicationError as exc:
        return _team_render(request, _status(exc), team_error=exc.message, error_member=member_id)
    return _team_render(request, notice=f"{member.email} is now {request.POST.get('role')}.")


@owner_required
@require_POST
def team_member_active(request: HttpRequest, member_id: int) -> HttpResponse:
    active = request.POST.get("active") == "1"
    try:
        member = team_services.member_active_set(by=request.user, member_id=member_id, active=active)
    except NotFound:
        raise Http404("No such team member.") from None
    except ApplicationError as exc:
        return _team_render(request, _status(exc), team_error=exc.message, error_member=member_id)
    state = "reactivated" if active else "deactivated: they can no longer sign in"
    return _team_render(request, notice=f"{member.email} is {state}.")


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation link (no sign-in): choose a password, then signed in to the inbox."""
    try:
        invitation = team_services.invitation_for_token(token=token)
    except ValidationFailed as exc:
        return render(request, T + "invitation_accept.html", {"invalid": exc.message}, status=410)
    context = {"invitation": invitation, "business": getattr(connection, "tenant", None)}
    if request.method == "POST":
        try:
            user = team_services.invitation_accept(
                token=token,
                password=request.POST.get("password", ""),
                password_again=request.POST.get("password_again", ""),
            )
        except ValidationFailed as exc:
            return render(
                request,
                T + "invitation_accept.html",
                {**context, "errors": _fields(exc), "form_error": exc.message},
                status=422,
            )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        response = HttpResponse(status=303)
        response["Location"] = settings.LOGIN_REDIRECT_URL
        return response
    return render(request, T + "invitation_accept.html", context)


# -- WhatsApp numbers -------------------------------------------------------------------------


def _numbers_context(request, **extra) -> dict:
    return {
        "numbers": selectors.phone_number_list(tenant=_tenant(request), user=request.user),
        "sandbox": services.graph_sandbox_url() is not None,
        "draft": {},
        **extra,
    }


def _numbers_render(request, status: int = 200, **extra) -> HttpResponse:
    template = T + ("_numbers.html" if request.htmx else "numbers.html")
    return render(request, template, _numbers_context(request, **extra), status=status)


@owner_required
@require_GET
def numbers_page(request: HttpRequest) -> HttpResponse:
    return render(request, T + "numbers.html", _numbers_context(request))


@owner_required
@require_POST
def number_connect(request: HttpRequest) -> HttpResponse:
    draft = {k: request.POST.get(k, "") for k in ("phone_number_id", "waba_id")}
    try:
        number, check = services.phone_number_connect(
            tenant=_tenant(request),
            by=request.user,
            phone_number_id=draft["phone_number_id"],
            waba_id=draft["waba_id"],
            access_token=request.POST.get("access_token", ""),
            app_secret=request.POST.get("app_secret", ""),
        )
    except ValidationFailed as exc:
        return _numbers_render(request, _status(exc), errors=_fields(exc), form_error=exc.message, draft=draft)
    name = f" ({check.verified_name})" if check.verified_name else ""
    return _numbers_render(
        request, 201, notice=f"Connected +{number.display_phone_number or number.phone_number_id}{name}."
    )


@owner_required
@require_POST
def number_connect_sandbox(request: HttpRequest) -> HttpResponse:
    try:
        number, _ = services.phone_number_connect_sandbox(tenant=_tenant(request), by=request.user)
    except ValidationFailed as exc:
        return _numbers_render(request, _status(exc), form_error=exc.message)
    return _numbers_render(request, 201, notice=f"Sandbox number +{number.display_phone_number} connected.")


@owner_required
@require_POST
def number_refresh(request: HttpRequest, number_id: int) -> HttpResponse:
    try:
        number, check = services.phone_number_refresh(tenant=_tenant(request), by=request.user, number_id=number_id)
    except NotFound:
        raise Http404("No such number.") from None
    except ValidationFailed as exc:
        reasons = [r for rs in exc.fields.values() for r in (rs if isinstance(rs, list) else [rs])]
        message = " ".join([exc.message, *reasons])
        return _numbers_render(request, _status(exc), number_errors={number_id: message})
    said = ", ".join(v for v in (check.status, check.quality_rating and f"quality {check.quality_rating}") if v)
    shown = number.display_phone_number or number.phone_number_id
    return _numbers_render(request, notice=f"Checked +{shown} with Meta{': ' + said if said else ''}.")
