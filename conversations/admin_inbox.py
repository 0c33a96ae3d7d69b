"""Tenant admin of the inbox preferences (one row per tenant): where staff switch read
receipts on open and the typing indicator until the dashboard's Settings page has them."""

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from bizmitra.admin_sites import TenantOnlyAdmin
from conversations.dashboard.services import inbox_settings_ensure
from conversations.models import InboxSettings


@admin.register(InboxSettings)
class InboxSettingsAdmin(TenantOnlyAdmin):
    fields = ["mark_read_on_open", "typing_indicator"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # One row per tenant: the list is just a door to it.
        row = inbox_settings_ensure()
        return HttpResponseRedirect(reverse("admin:conversations_inboxsettings_change", args=[row.pk]))
