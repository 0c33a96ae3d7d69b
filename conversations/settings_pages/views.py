"""Settings pages and their htmx fragments (thin: parse, call one service, render).

A save answers the form card again: 200 with "Saved" when it worked, 422 with an inline
message next to each bad field, 409 when someone else changed the form since it was opened
(nothing saved). htmx swaps those statuses (see layout/base.html); without htmx the whole
page is rendered with the same messages.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from bizmitra.errors import ApplicationError
from conversations.settings_pages import selectors, services
from conversations.settings_pages.access import owner_required


def _page_or_fragment(request, page: str, fragment: str, context: dict, status: int = 200) -> HttpResponse:
    return render(request, fragment if request.htmx else page, context, status=status)


def _days(profile: selectors.BusinessProfile, errors: dict) -> list[dict]:
    return [
        {"value": value, "id": str(value), "label": label, "text": text, "errors": errors.get(f"hours_{value}", [])}
        for value, label, text in profile.days
    ]


@owner_required
def settings_index(request: HttpRequest) -> HttpResponse:
    """``/settings/`` (the main nav's Settings link) opens the business profile."""
    return redirect("/settings/profile/")


@owner_required
@require_http_methods(["GET", "POST"])
def profile_page(request: HttpRequest) -> HttpResponse:
    context = {"timezones": selectors.timezone_choices(), "errors": {}, "saved": False}
    if request.method == "GET":
        context["profile"] = selectors.business_profile_get(user=request.user)
        context["days"] = _days(context["profile"], {})
        return render(request, "conversations/settings/profile.html", context)
    post = request.POST
    hours = {weekday: post.get(f"hours_{weekday}", "") for weekday, _ in selectors.WEEKDAYS}
    try:
        context["profile"] = services.business_profile_save(
            user=request.user,
            version=post.get("version", ""),
            name=post.get("name", ""),
            timezone_name=post.get("timezone", ""),
            away_message=post.get("away_message", ""),
            hours_enabled=post.get("hours_enabled") == "on",
            hours=hours,
        )
        context["saved"] = True
        status = 200
    except ApplicationError as exc:
        # The form as submitted, with its messages; a stale form keeps its old version so it
        # cannot be saved blindly: the owner reloads to see the other change.
        context["errors"] = exc.fields or {"form": [exc.message]}
        context["profile"] = selectors.BusinessProfile(
            name=post.get("name", ""),
            timezone=post.get("timezone", ""),
            away_message=post.get("away_message", ""),
            hours_enabled=post.get("hours_enabled") == "on",
            hours=hours,
            version=post.get("version", ""),
        )
        context["stale"] = exc.http_status == 409
        status = exc.http_status if 400 <= exc.http_status < 500 else 422
    context["days"] = _days(context["profile"], context["errors"])
    return _page_or_fragment(
        request, "conversations/settings/profile.html", "conversations/settings/_profile_form.html", context, status
    )
