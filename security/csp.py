"""The Content-Security-Policy of every page (django-csp), with the dashboard's websocket."""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings


def live_websocket_origin(request) -> str:
    """The origin the inbox's websocket connects to (``LIVE_WEBSOCKET_URL`` on this host):
    a different port than the page (daphne), so 'self' does not cover it."""
    url = urlsplit(settings.LIVE_WEBSOCKET_URL.format(host=request.get_host().split(":")[0]))
    return f"{url.scheme}://{url.netloc}"


class DashboardCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, plus per request: the websocket origin in ``connect-src``,
    and inline scripts only on the pages that render their own (Swagger UI)."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), live_websocket_origin(request)]
        if request.path_info.startswith(tuple(settings.CSP_INLINE_SCRIPT_PATH_PREFIXES)):
            update["script-src"] = [*update.get("script-src", []), "'unsafe-inline'"]
        parts.update = update
        return parts
