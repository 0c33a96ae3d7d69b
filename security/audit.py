"""The configuration audit log (django-auditlog): who changed what, when, before and after.

The audited models and their secret fields are listed in settings
(``AUDITLOG_INCLUDE_TRACKING_MODELS``). auditlog's middleware knows the person signed in by
session (dashboard, admin); this middleware adds the API's callers, which DRF authenticates
later, inside the view: a JWT user becomes the entry's actor, an API key is named in
``additional_data["actor"]`` (it is not a user). Entries are written in the schema the change
happens in, so a tenant's owner sees their own business's changes only.
"""

from __future__ import annotations

from contextvars import ContextVar

from auditlog.middleware import AuditlogMiddleware
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.signals import pre_save

from bizmitra.actors import actor_split

SECRET_MASK = "••••••••"

_current_request: ContextVar = ContextVar("security_audit_request", default=None)


def mask_secret(value: str) -> str:
    """A secret's change is recorded as a change, never by value (not even half of it,
    auditlog's default)."""
    return SECRET_MASK if value else ""


class AuditActorMiddleware(AuditlogMiddleware):
    """auditlog's middleware (request id, address), with the actor left to ``_entry_actor_fill``."""

    @staticmethod
    def _get_actor(request):
        return None

    def __call__(self, request):
        # Users are rows of the schema the request was routed to (django-tenants ran first).
        token = _current_request.set((request, connection.schema_name))
        try:
            return super().__call__(request)
        finally:
            _current_request.reset(token)


def _entry_actor_fill(sender, instance, **kwargs) -> None:
    current = _current_request.get()
    if current is None or instance.actor_id is not None:
        return
    request, user_schema = current
    # DRF puts the user it authenticated on the underlying HttpRequest as well.
    by = getattr(request, "user", None)
    if by is None or not getattr(by, "is_authenticated", False):
        return
    person, label = actor_split(by if isinstance(by, get_user_model()) else str(by))
    if person is not None and connection.schema_name == user_schema:
        instance.actor = person
        instance.actor_email = getattr(person, "email", None) or None
        return
    if person is not None:
        # A change written in another schema (platform staff onboarding a tenant): the user
        # is no row there, so the entry names them instead of pointing at a foreign id.
        label = f"{label} ({user_schema})"
    instance.additional_data = {**(instance.additional_data or {}), "actor": label}


def install() -> None:
    from auditlog import get_logentry_model

    pre_save.connect(_entry_actor_fill, sender=get_logentry_model(), dispatch_uid="security.audit.actor")
    _platform_admin_register()


def _platform_admin_register() -> None:
    """Platform staff see the public schema's audit entries and lockouts on their own admin
    site (auditlog and axes register on Django's default site, the tenants' one)."""
    from auditlog.admin import LogEntryAdmin
    from auditlog.models import LogEntry
    from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from bizmitra.admin_sites import platform_admin_site

    for model, model_admin in (
        (LogEntry, LogEntryAdmin),
        (AccessAttempt, AccessAttemptAdmin),
        (AccessLog, AccessLogAdmin),
        (AccessFailureLog, AccessFailureLogAdmin),
    ):
        if not platform_admin_site.is_registered(model):
            platform_admin_site.register(model, model_admin)
