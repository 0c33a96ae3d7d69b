"""Dashboard pages of a tenant (session auth on the tenant's domain).

The pages live in ``conversations.dashboard.views``; this module keeps the small pages of
the layout itself.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from conversations.selectors import user_is_owner

_SOON = {
    "leads": ("Leads", "Every enquiry your bot captures, with stage, score and follow-ups — in a pipeline view."),
    "analytics": ("Analytics", "Response times, bot vs. human share and lead conversion, day by day."),
    "settings": ("Settings", "Business hours, bot behaviour, team members and your WhatsApp number."),
}


@login_required
def coming_soon(request, section: str):
    if section not in _SOON:
        raise Http404("No such page.")
    if section == "settings" and not user_is_owner(request.user):
        raise PermissionDenied("Only owners can change settings.")
    label, blurb = _SOON[section]
    return render(request, "layout/coming_soon.html", {"section": section, "label": label, "blurb": blurb})
