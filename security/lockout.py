"""What a locked-out sign-in gets back, and which address it came from (django-axes hooks)."""

from __future__ import annotations

import math

from axes.helpers import get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from bizmitra.errors import error_body


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind ``TRUSTED_PROXY_COUNT`` proxies the
    address the outermost one saw (the same rule as DRF's ``NUM_PROXIES``). Entries a client
    wrote into X-Forwarded-For itself sit further left and are never read."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR")


def cool_off_seconds(request: HttpRequest | None = None) -> int:
    cool_off = get_cool_off(request)
    return math.ceil(cool_off.total_seconds()) if cool_off else 0


def lockout_message(seconds: int) -> str:
    if not seconds:
        return "Too many failed sign-in attempts. Ask the owner of your business account to unlock it."
    minutes = max(1, math.ceil(seconds / 60))
    return (
        f"Too many failed sign-in attempts. For your security, signing in is paused for "
        f"{minutes} minute{'s' if minutes != 1 else ''}; try again then, or ask the owner of your "
        "business account to unlock it."
    )


def _wants_json(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429 for a refused sign-in: JSON ``{"error": "locked_out", ...}`` on the API, the
    lockout page elsewhere (dashboard login, both admin sites); ``Retry-After`` on both."""
    request = getattr(request, "_request", request)  # DRF's Request wraps the HttpRequest
    seconds = cool_off_seconds(request)
    message = lockout_message(seconds)
    if _wants_json(request):
        response = JsonResponse(error_body("locked_out", message, retryAfter=seconds), status=429)
    else:
        context = {"message": message, "login_url": request.path}
        response = render(request, "security/locked_out.html", context, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def locked_out_flag_for_drf(sender, request=None, **kwargs) -> None:
    """axes flags the request it was given; for the JWT endpoint that is DRF's ``Request``,
    a wrapper AxesMiddleware never sees. Flag the HttpRequest inside it too, so the token
    endpoint answers the same 429 as the pages (receiver of axes' ``user_locked_out``)."""
    inner = getattr(request, "_request", None)
    if inner is not None:
        inner.axes_locked_out = True
        inner.axes_credentials = getattr(request, "axes_credentials", None)
