"""Sign-up pages: /signup and Sign in with Google on the platform host; the sign-in hand-off
and the first-run checklist (/welcome/) on the tenant's own host."""

from __future__ import annotations

import secrets
import time

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited
from django_tenants.utils import get_public_schema_name, schema_context, tenant_context

from bizmitra.errors import ApplicationError, ValidationFailed
from tenants.models import Domain, Tenant
from tenants.services import OWNER_GROUP
from tenants.signup import google
from tenants.signup.forms import GoogleEmailForm, SignupForm
from tenants.signup.selectors import (
    google_allow_list,
    google_tenants_for_email,
    owner_signup_for,
    signup_checklist,
)
from tenants.signup.services import (
    google_email_allow,
    google_email_disallow,
    google_user_ensure,
    handoff_redeem,
    handoff_token_issue,
    signup_email_verify,
    signup_verification_send,
    slug_from_name,
    tenant_domain_for,
    tenant_signup,
)

GOOGLE_SESSION_KEY = "signup_google"


def _host_url(request: HttpRequest, host: str, path: str = "/") -> str:
    """``path`` on ``host``, with this request's scheme and port (every host is served by the
    same web servers: a tenant's address differs from the platform's by name only)."""
    port = request.get_host().rpartition(":")[2] if ":" in request.get_host() else ""
    default = "443" if request.is_secure() else "80"
    netloc = host if not port or port == default else f"{host}:{port}"
    return f"{request.scheme}://{netloc}{path}"


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def _handoff_url(request: HttpRequest, tenant: Tenant, user_id: int, next_path: str = "/welcome/") -> str:
    domain = tenant.get_primary_domain()
    token = handoff_token_issue(tenant=tenant, user_id=user_id)
    return _host_url(request, domain.domain, f"/welcome/signin/?token={token}&next={next_path}")


@require_http_methods(["GET", "POST"])
def signup_page(request: HttpRequest) -> HttpResponse:
    context = {"base_domain": settings.TENANT_BASE_DOMAIN, "google_enabled": google.google_enabled()}
    if request.method == "GET":
        return render(request, "tenants/signup/signup.html", {**context, "form": SignupForm()})
    form = SignupForm(request.POST)
    template = "tenants/signup/_form.html" if request.htmx else "tenants/signup/signup.html"
    if is_ratelimited(request, group="signup", key="ip", rate=settings.SIGNUP_RATE_LIMIT, increment=True):
        form.is_valid()
        form.add_error(None, "Too many sign-up attempts from your network. Please wait an hour and try again.")
        return render(request, template, {**context, "form": form}, status=429)
    if not form.is_valid():
        return render(request, template, {**context, "form": form}, status=422)
    data = form.cleaned_data
    started = time.monotonic()
    try:
        result = tenant_signup(
            business_name=data["business_name"],
            slug=data["slug"] or slug_from_name(data["business_name"]),
            email=data["email"],
            password=data["password"],
        )
    except ValidationFailed as exc:
        if not data["slug"] and not data["business_name"].strip():
            exc.fields.pop("slug", None)  # nothing to derive an address from yet: the name says it
        elif "slug" in exc.fields and not data["slug"]:
            # The address was derived from the name: show it, so the person can change it.
            form = SignupForm({**request.POST.dict(), "slug": slug_from_name(data["business_name"])})
            form.is_valid()
        form.add_service_errors(exc)
        return render(request, template, {**context, "form": form}, status=422)
    seconds = time.monotonic() - started
    platform = _host_url(request, result.domain.domain, "")
    signup_verification_send(owner_signup=result.owner_signup, platform_url=platform)
    response = _redirect(request, _handoff_url(request, result.tenant, result.owner_id))
    response["Server-Timing"] = f"signup;dur={seconds * 1000:.0f}"
    return response


def signup_verify(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the verification email; answered on any host (the tenant's, as sent)."""
    try:
        owner_signup = signup_email_verify(token=token)
    except ValidationFailed as exc:
        return render(request, "tenants/signup/verified.html", {"error": exc.message}, status=400)
    welcome = _host_url(request, owner_signup.tenant.get_primary_domain().domain, "/welcome/")
    return render(request, "tenants/signup/verified.html", {"owner_signup": owner_signup, "welcome_url": welcome})


@require_http_methods(["GET", "POST"])
def signin_page(request: HttpRequest) -> HttpResponse:
    """The platform's "Sign in": to a workspace by its address, or with Google."""
    error = ""
    if request.method == "POST":
        slug = (request.POST.get("slug") or "").strip().lower()
        domain = tenant_domain_for(slug)
        if slug and Domain.objects.filter(domain=domain, tenant__is_active=True).exists():
            return HttpResponseRedirect(_host_url(request, domain, "/login/"))
        error = f"We found no workspace at {domain}. Check the address, or sign up."
    context = {
        "error": error,
        "google_enabled": google.google_enabled(),
        "base_domain": settings.TENANT_BASE_DOMAIN,
        "google_error": request.session.pop("signup_google_error", ""),
    }
    return render(request, "tenants/signup/signin.html", context, status=400 if error else 200)


def _google_redirect_uri(request: HttpRequest) -> str:
    return settings.GOOGLE_OAUTH_REDIRECT_URI or _host_url(
        request, request.get_host().split(":")[0], "/auth/google/callback/"
    )


def google_start(request: HttpRequest) -> HttpResponse:
    if not google.google_enabled():
        return render(
            request, "tenants/signup/signin.html", {"google_error": "Sign in with Google is not set up."}, status=404
        )
    if is_ratelimited(request, group="signin", key="ip", rate=settings.SIGNIN_RATE_LIMIT, increment=True):
        request.session["signup_google_error"] = (
            "Too many sign-in attempts from your network. Please wait and try again."
        )
        return HttpResponseRedirect("/signin/")
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    request.session[GOOGLE_SESSION_KEY] = {"state": state, "nonce": nonce}
    return HttpResponseRedirect(
        google.authorization_url(redirect_uri=_google_redirect_uri(request), state=state, nonce=nonce)
    )


def _google_fail(request: HttpRequest, message: str) -> HttpResponse:
    return render(
        request,
        "tenants/signup/signin.html",
        {
            "google_error": message,
            "google_enabled": google.google_enabled(),
            "base_domain": settings.TENANT_BASE_DOMAIN,
        },
        status=400,
    )


def google_callback(request: HttpRequest) -> HttpResponse:
    pending = request.session.pop(GOOGLE_SESSION_KEY, None)
    if request.GET.get("error"):
        return _google_fail(request, "Google sign-in was cancelled.")
    if not pending or not secrets.compare_digest(request.GET.get("state", ""), pending["state"]):
        return _google_fail(request, "This sign-in expired or did not start here. Please try again.")
    try:
        token = google.code_exchange(code=request.GET.get("code", ""), redirect_uri=_google_redirect_uri(request))
        claims = google.id_token_verify(token=token, nonce=pending["nonce"])
    except ApplicationError as exc:
        return _google_fail(request, exc.message)
    email = claims["email"].lower()
    tenants = google_tenants_for_email(email)
    if not tenants:
        return _google_fail(
            request,
            f"{email} is not allowed to sign in with Google to any workspace. Ask your workspace owner to add it.",
        )
    if len(tenants) == 1:
        return _google_enter(request, tenants[0], email)
    request.session["signup_google_email"] = email
    return render(request, "tenants/signup/choose.html", {"tenants": tenants, "email": email})


@require_POST
def google_choose(request: HttpRequest) -> HttpResponse:
    email = request.session.pop("signup_google_email", None)
    tenant = next(
        (t for t in google_tenants_for_email(email or "") if t.schema_name == request.POST.get("tenant")), None
    )
    if email is None or tenant is None:
        return _google_fail(request, "This sign-in expired. Please sign in with Google again.")
    return _google_enter(request, tenant, email)


def _google_enter(request: HttpRequest, tenant: Tenant, email: str) -> HttpResponse:
    try:
        user_id = google_user_ensure(tenant=tenant, email=email)
    except ValidationFailed as exc:
        return _google_fail(request, exc.message)
    return HttpResponseRedirect(_handoff_url(request, tenant, user_id, next_path="/"))


# --- on the tenant's host -------------------------------------------------------------------


def handoff_signin(request: HttpRequest) -> HttpResponse:
    """Sign in the user a one-time hand-off token names, then go on to ``next``."""
    user_id = handoff_redeem(token=request.GET.get("token", ""), schema_name=request.tenant.schema_name)
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        return HttpResponseRedirect("/login/")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    next_path = request.GET.get("next", "/welcome/")
    return HttpResponseRedirect(next_path if next_path in ("/", "/welcome/") else "/welcome/")


def _is_owner(user) -> bool:
    return user.is_superuser or user.groups.filter(name=OWNER_GROUP).exists()


def _welcome_context(request: HttpRequest, **extra) -> dict:
    tenant = request.tenant
    with tenant_context(tenant):
        items = signup_checklist(tenant=tenant)
    owner_signup = owner_signup_for(tenant)
    return {
        "items": items,
        "done_count": sum(1 for item in items if item.done),
        "owner_signup": owner_signup,
        "is_owner": _is_owner(request.user),
        "google_enabled": google.google_enabled(),
        "google_emails": google_allow_list(tenant=tenant),
        "google_form": GoogleEmailForm(),
        **extra,
    }


@login_required
def welcome(request: HttpRequest) -> HttpResponse:
    """The first-run checklist."""
    return render(request, "tenants/signup/welcome.html", _welcome_context(request))


@login_required
@require_POST
def welcome_resend(request: HttpRequest) -> HttpResponse:
    owner_signup = owner_signup_for(request.tenant)
    if owner_signup is None or owner_signup.email_verified_at or not _is_owner(request.user):
        return HttpResponseRedirect("/welcome/")
    if is_ratelimited(request, group="signup-resend", key="ip", rate="5/h", increment=True):
        note = "You asked for several links already. Please check your inbox and spam folder."
        return render(request, "tenants/signup/welcome.html", _welcome_context(request, resend_note=note), status=429)
    with schema_context(get_public_schema_name()):
        sent = signup_verification_send(
            owner_signup=owner_signup, platform_url=_host_url(request, request.get_host().split(":")[0], "")
        )
    note = (
        f"We sent a new link to {owner_signup.email}."
        if sent
        else "We could not send the email. Please try again later."
    )
    return render(request, "tenants/signup/welcome.html", _welcome_context(request, resend_note=note))


@login_required
@require_POST
def welcome_google(request: HttpRequest) -> HttpResponse:
    """Add or remove an email on the tenant's Google sign-in allow-list (owners)."""
    if not _is_owner(request.user):
        return render(request, "tenants/signup/welcome.html", _welcome_context(request), status=403)
    if request.POST.get("remove"):
        google_email_disallow(tenant=request.tenant, email=request.POST["remove"])
        return HttpResponseRedirect("/welcome/#google")
    form = GoogleEmailForm(request.POST)
    if not form.is_valid():
        return render(request, "tenants/signup/welcome.html", _welcome_context(request, google_form=form), status=422)
    google_email_allow(tenant=request.tenant, email=form.cleaned_data["email"])
    return HttpResponseRedirect("/welcome/#google")
