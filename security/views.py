"""The owners' security pages: /settings/security/ (sign-in lockouts) and /settings/audit/
(who changed the configuration). Read-only but for "Unlock"."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from bizmitra.errors import NotFound
from conversations.settings_pages.access import owner_required
from security import selectors, services
from security.lockout import cool_off_seconds

ACTIONS = {0: ("Created", "success"), 1: ("Changed", "info"), 2: ("Deleted", "danger"), 3: ("Viewed", "neutral")}


@require_GET
@owner_required
def security_page(request):
    failures = [
        {"entry": f, "where": selectors.sign_in_where(f.path_info or "")} for f in selectors.failed_login_list()
    ]
    context = {
        "lockouts": selectors.lockout_list(),
        "failures": failures,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": round(cool_off_seconds() / 60),
    }
    return render(request, "security/security.html", context)


@require_POST
@owner_required
def lockout_unlock(request, attempt_id: int):
    try:
        services.lockout_release(attempt_id=attempt_id, by=request.user)
    except NotFound as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Unlocked: signing in works again for that account and address.")
    return redirect("settings-security")


@require_GET
@owner_required
def audit_page(request):
    page = Paginator(selectors.audit_entry_list(), 50).get_page(request.GET.get("page"))
    entries = [
        {
            "entry": e,
            "actor": selectors.audit_actor_label(e),
            "action": ACTIONS.get(e.action, ("Changed", "info")),
            "kind": e.content_type.name if e.content_type_id else "",
            "changes": selectors.audit_changes(e),
        }
        for e in page.object_list
    ]
    return render(request, "security/audit.html", {"page": page, "entries": entries})
