"""Two admin sites: the platform's (public host) and each tenant's (tenant domains).

They must be separate objects: a tenant's owner is a superuser inside their own
schema, and the tenant schema's search_path also reaches the public tables, so one
shared site would let an owner open platform pages (every tenant, every phone
number, raw webhooks, beat jobs). Platform models register only on
``platform_admin_site``, which only ``bizmitra/urls_public.py`` mounts; tenant
models register on Django's default ``admin.site``, mounted on tenant domains.
"""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User


class PlatformAdminSite(admin.AdminSite):
    site_header = "BizMitra platform"
    site_title = "BizMitra platform"
    index_title = "Platform administration"


platform_admin_site = PlatformAdminSite(name="platform_admin")
platform_admin_site.register(User, UserAdmin)
platform_admin_site.register(Group, GroupAdmin)


def move_celery_beat_admin() -> None:
    """django-celery-beat registers its admin on the default site; beat jobs are platform-wide."""
    from django_celery_beat import admin as beat_admin
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    for model in (PeriodicTask, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
        model_admin = admin.site._registry.get(model)
        if model_admin is not None:
            admin.site.unregister(model)
            platform_admin_site.register(model, type(model_admin))
    del beat_admin


class TenantOnlyAdmin(admin.ModelAdmin):
    """A tenant model's admin: shown on a tenant's host only (the platform host's admin has no
    tenant rows to show), and rows are made by the product, not added by hand."""

    def has_module_permission(self, request):
        return _in_tenant() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _in_tenant() and super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False


def _in_tenant() -> bool:
    from django.db import connection
    from django_tenants.utils import get_public_schema_name

    return connection.schema_name != get_public_schema_name()
