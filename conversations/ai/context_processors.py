"""``ai_status`` in every template: whether the dashboard should say the AI is off.

Registered in ``TEMPLATES`` (bizmitra/settings/base.py); read by the partial
``conversations/_ai_off_banner.html``. Lazy: a page that does not show the banner costs
no query, and the platform host (no tenant tables) and signed-out pages never ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject
from django_tenants.utils import get_public_schema_name

from conversations.ai.selectors import AI_OFF_MESSAGE, ai_endpoint_configured, ai_settings_get
from conversations.selectors import user_is_owner


@dataclass(frozen=True)
class AIStatus:
    """``off``: AI is switched on for the tenant but no endpoint is configured, so it cannot answer.

    ``settings_url``: where to fix it, for owners only (empty for agents).
    """

    off: bool
    message: str = AI_OFF_MESSAGE
    settings_url: str = ""


def _ai_status(request) -> AIStatus:
    user = getattr(request, "user", None)
    if connection.schema_name == get_public_schema_name() or not (user and user.is_authenticated):
        return AIStatus(off=False)
    config = ai_settings_get()
    # A tenant that switched AI off on purpose gets no nagging banner.
    off = config.enabled and not ai_endpoint_configured(config=config)
    url = ""
    # Only owners may change the AI settings; agents are told to ask one instead of a 403.
    if off and user_is_owner(user):
        try:
            url = reverse("admin:conversations_aiassistantsettings_changelist")
        except NoReverseMatch:  # the tenant admin is not mounted (e.g. a test urlconf)
            url = ""
    return AIStatus(off=off, settings_url=url)


def ai_status(request) -> dict:
    return {"ai_status": SimpleLazyObject(lambda: _ai_status(request))}
