"""Tenant admin of the inbox preferences (one row per tenant): where staff switch read
receipts on open and the typing indicator until the dashboard's Settings page has them."""

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django_tenants.utils import get_public_schema_name

from conversations.dashboard.services import inbox_settings_ensure
from conversations.models import InboxSettings


@admin.register(InboxSettings)
class InboxSettingsAdmin(admin.ModelAdmin):
    fields = ["mark_read_on_open", "typing_indicator"]

    def has_module_permission(self, request):
        from django.db import connection

        return connection.schema_name != get_public_schema_name() and super().has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # One row per tenant: the list is just a door to it.
        row = inbox_settings_ensure()
        return HttpResponseRedirect(reverse("admin:conversations_inboxsettings_change", args=[row.pk]))
