"""The Templates section of the owner settings (issue 11 §4): the Meta templates synced from
the tenant's WhatsApp Business account(s), a sync button, and the way into the flow builder.

Thin views over ``templates.selectors`` and ``templates.services.meta_templates_sync``; the
page extends the settings shell (``layout/settings_base.html``). Owners only: agents get
the friendly 403 of the settings pages (the check is ``tenants.permissions.user_is_owner``,
since templates sits below conversations).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from bizmitra.errors import ApplicationError
from templates.choices import TemplateKind
from templates.selectors import template_list
from templates.services import meta_templates_sync
from tenants.permissions import user_is_owner


def _owners_only(view):
    def wrapper(request, *args, **kwargs):
        if not user_is_owner(request.user):
            if request.htmx:
                return render(request, "layout/_settings_forbidden.html", {"fragment": True}, status=403)
            return render(request, "layout/settings_forbidden.html", status=403)
        return view(request, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = view.__name__, view.__doc__
    return login_required(wrapper)


def _context(**extra) -> dict:
    meta = list(template_list().filter(kind=TemplateKind.META_TEMPLATE).order_by("meta_name", "meta_language"))
    own = template_list().exclude(kind=TemplateKind.META_TEMPLATE).count()
    synced = max((t.meta_synced_at for t in meta if t.meta_synced_at), default=None)
    return {"meta_templates": meta, "own_count": own, "synced_at": synced, **extra}


@_owners_only
@require_GET
def templates_page(request: HttpRequest) -> HttpResponse:
    return render(request, "message_templates/settings/templates.html", _context())


@_owners_only
@require_POST
def templates_sync(request: HttpRequest) -> HttpResponse:
    """Sync now; answers the list with what changed, or WhatsApp's reason it could not."""
    status = 200
    try:
        result, error = meta_templates_sync(), ""
    except ApplicationError as exc:
        result, error = None, exc.message
        status = exc.http_status
        if status >= 500 and request.htmx:
            # WhatsApp failed, not the owner's input: htmx swaps only 2xx/4xx (layout/base.html),
            # and the card must show Meta's reason, so the fragment goes out as a 200.
            status = 200
    if request.htmx:
        template = "message_templates/settings/_templates_list.html"
    else:
        template = "message_templates/settings/templates.html"
    return render(request, template, _context(result=result, error=error), status=status)
