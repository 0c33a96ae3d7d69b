"""Owners only, for every settings page and fragment (re-exported by
``conversations.settings_pages.access``), rendering the settings shell's shared 403 templates."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from tenants.permissions import user_is_owner


def forbidden(request):
    if getattr(request, "htmx", False):
        return render(request, "layout/_settings_forbidden.html", {"fragment": True}, status=403)
    return render(request, "layout/settings_forbidden.html", status=403)


def owner_required(view):
    """Sign in first, then owners only; a ``PermissionDenied`` from a service is the same 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not user_is_owner(request.user):
            return forbidden(request)
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied:
            return forbidden(request)

    return login_required(wrapper)
