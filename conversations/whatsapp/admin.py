"""Platform admin (public schema) of raw webhook deliveries and what could not be routed.

Bodies are customers' messages: the list shows sizes only; the detail page shows a
truncated, pretty-printed copy for staff debugging a delivery.
"""

import json

from django.contrib import admin, messages
from django.db.models.functions import Length
from django.urls import reverse
from django.utils.html import format_html

from bizmitra.admin_sites import platform_admin_site
from conversations.whatsapp.ingest import deliveries_reset
from conversations.whatsapp.models import UnroutedEvent, WebhookDelivery
from conversations.whatsapp.tasks import delivery_enqueue
from tenants.admin import PublicOnlyAdmin

BODY_PREVIEW_CHARS = 20_000


def _pretty_json(value, limit: int = BODY_PREVIEW_CHARS) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    if len(text) > limit:
        text = text[:limit] + f"\n… ({len(text) - limit} more characters)"
    return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', text)


class UnroutedEventInline(admin.TabularInline):
    model = UnroutedEvent
    extra = 0
    fields = ("created_at", "kind", "phone_number_id", "field", "reason")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery, site=platform_admin_site)
class WebhookDeliveryAdmin(PublicOnlyAdmin):
    list_display = ("id", "received_at", "state", "attempts", "size", "processed_at", "short_error")
    list_filter = ("state", "signature_verified")
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
    fields = (
        "received_at",
        "state",
        "signature_verified",
        "attempts",
        "processed_at",
        "error",
        "size",
        "body_preview",
    )
    readonly_fields = fields
    inlines = [UnroutedEventInline]
    actions = ["reprocess"]
    show_full_result_count = False

    def get_queryset(self, request):
        # Never load the bodies (up to 3 MB each) for a list page.
        return super().get_queryset(request).defer("body").annotate(body_size=Length("body"))

    @admin.display(description="size", ordering="body_size")
    def size(self, obj: WebhookDelivery) -> str:
        size = getattr(obj, "body_size", None)
        if size is None:
            size = len(obj.body)
        return f"{size:,} bytes"

    @admin.display(description="error")
    def short_error(self, obj: WebhookDelivery) -> str:
        return obj.error.splitlines()[0][:120] if obj.error else ""

    @admin.display(description="body (truncated)")
    def body_preview(self, obj: WebhookDelivery) -> str:
        raw = bytes(obj.body)
        try:
            return _pretty_json(json.loads(raw))
        except ValueError:
            return format_html("<pre>{}</pre>", raw[:BODY_PREVIEW_CHARS].decode("utf-8", "replace"))

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Reprocess selected deliveries", permissions=["change"])
    def reprocess(self, request, queryset) -> None:
        ids = deliveries_reset(delivery_ids=queryset.values_list("pk", flat=True))
        queued = sum(delivery_enqueue(delivery_id) for delivery_id in ids)
        self.message_user(
            request,
            f"{queued} of {len(ids)} deliveries queued for processing; the sweeper retries the rest.",
            messages.SUCCESS if queued == len(ids) else messages.WARNING,
        )


@admin.register(UnroutedEvent, site=platform_admin_site)
class UnroutedEventAdmin(PublicOnlyAdmin):
    list_display = ("created_at", "kind", "phone_number_id", "field", "reason", "delivery_link")
    list_filter = ("kind", "field")
    search_fields = ("phone_number_id", "reason")
    date_hierarchy = "created_at"
    fields = ("created_at", "delivery_link", "kind", "phone_number_id", "field", "reason", "payload_preview")
    readonly_fields = fields

    @admin.display(description="delivery")
    def delivery_link(self, obj: UnroutedEvent) -> str:
        url = reverse("platform_admin:whatsapp_webhookdelivery_change", args=[obj.delivery_id])
        return format_html('<a href="{}">#{}</a>', url, obj.delivery_id)

    @admin.display(description="payload (truncated)")
    def payload_preview(self, obj: UnroutedEvent) -> str:
        return _pretty_json(obj.payload)

    def has_add_permission(self, request) -> bool:
        return False
