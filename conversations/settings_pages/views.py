"""Settings pages and their htmx fragments (thin: parse, call one service, render)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from conversations.settings_pages.access import owner_required


@owner_required
def settings_index(request: HttpRequest) -> HttpResponse:
    """``/settings/`` (the main nav's Settings link) opens the business profile."""
    return redirect("/settings/profile/")
