"""The Templates section of the owner settings (issue 11 §4): the Meta templates synced from
the tenant's WhatsApp Business account(s), a sync button, and the way into the flow builder.

Thin views over ``templates.selectors`` and ``templates.services.template_sync_start`` (a
``TemplateSyncJob`` the worker runs, so the card shows real progress); the
page extends the settings shell (``layout/settings_base.html``). Owners only: agents get
the friendly 403 of the settings pages (the check is ``tenants.permissions.user_is_owner``,
since templates sits below conversations).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from bizmitra.errors import ApplicationError
from templates.choices import SyncJobStatus, TemplateKind
from templates.selectors import template_list, template_sync_job_get
from templates.services import template_sync_start
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
    """Start a sync (or join the one under way); answers the card with its progress bar, which
    polls ``templates_sync_job`` until the worker is done. WhatsApp's reason shows if not."""
    try:
        job = template_sync_start(requested_by=request.user)
    except ApplicationError as exc:
        template = _TEMPLATES["fragment" if request.htmx else "page"]
        return render(request, template, _context(error=exc.message), status=exc.http_status)
    if not request.htmx:
        return redirect(f"{request.path.rstrip('/')}/{job.pk}/")
    return render(request, _TEMPLATES["fragment"], _context(job=job))


@_owners_only
@require_GET
def templates_sync_job(request: HttpRequest, job_id: str) -> HttpResponse:
    """The card while a sync runs (polled every second: accounts, pages and templates so
    far); once it ended, what changed or WhatsApp's reason it could not."""
    job = template_sync_job_get(job_id=job_id)
    if job is None:
        raise Http404("No such sync.")
    extra = {"job": job}
    if job.finished:
        extra.update(result=job if job.status == SyncJobStatus.DONE else None, error=job.error)
    template = _TEMPLATES["fragment" if request.htmx else "page"]
    return render(request, template, _context(**extra))


_TEMPLATES = {
    "page": "message_templates/settings/templates.html",
    "fragment": "message_templates/settings/_templates_list.html",
}
