"""Who may open a settings page: owners only; everyone else gets a friendly 403 page."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from conversations.selectors import user_is_owner


def forbidden(request):
    """The 403 an agent sees: the full page, or for an htmx request only the card (htmx swaps
    403s, see layout/base.html)."""
    if getattr(request, "htmx", False):
        return render(request, "layout/_settings_forbidden.html", {"fragment": True}, status=403)
    return render(request, "layout/settings_forbidden.html", status=403)


def owner_required(view):
    """Settings pages and their fragments: sign in first, then owners only."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not user_is_owner(request.user):
            return forbidden(request)
        return view(request, *args, **kwargs)

    return login_required(wrapper)
