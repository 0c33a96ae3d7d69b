"""Admin for outbound messages: the send queue, failures and dead letters, and retry.

Staff find dead-lettered messages with the status filter (``?status__exact=dead``) and
put them back in the queue with the "Retry selected" action.
"""

from django.contrib import admin, messages

from bizmitra.errors import ValidationFailed
from conversations.choices import Direction
from conversations.models import OutboundMessage
from conversations.services.outbound import message_retry


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "recipient",
        "type",
        "status",
        "attempts",
        "error_code",
        "error_title",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "type", "error_code")
    search_fields = ("wamid", "idempotency_key", "conversation__contact__wa_id", "body")
    list_select_related = ("conversation__contact",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ["retry_selected"]
    readonly_fields = [field.name for field in OutboundMessage._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(direction=Direction.OUTBOUND)

    @admin.display(description="to")
    def recipient(self, obj: OutboundMessage) -> str:
        return obj.conversation.contact.recipient

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Retry selected", permissions=["change"])
    def retry_selected(self, request, queryset) -> None:
        retried, skipped, refused = 0, 0, []
        for message in queryset:
            try:
                if message_retry(message=message):
                    retried += 1
                else:
                    skipped += 1
            except ValidationFailed as exc:
                refused.append(f"#{message.pk}: {exc.message}")
        if retried:
            self.message_user(request, f"{retried} message(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} message(s) were not failed or dead; left alone.", messages.INFO)
        for line in refused:
            self.message_user(request, line, messages.WARNING)
