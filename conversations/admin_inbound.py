"""Tenant admin of contacts, conversations and messages (mostly read-only: the webhook writes them).

Messages are never edited here; conversations and contacts only in the fields staff own
(status, assignment, opt-out). Tenant tables do not exist in the public schema, so these
pages hide on the platform host.
"""

from django.contrib import admin, messages
from django.db import connection
from django.db.models import Q
from django_tenants.utils import get_public_schema_name

from conversations.choices import MediaStatus
from conversations.models import Contact, Conversation, Message


class TenantOnlyAdmin(admin.ModelAdmin):
    def has_module_permission(self, request):
        return connection.schema_name != get_public_schema_name() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return connection.schema_name != get_public_schema_name() and super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Contact)
class ContactAdmin(TenantOnlyAdmin):
    list_display = ("__str__", "wa_id", "user_id", "profile_name", "last_inbound_at", "opted_out_at", "created_at")
    search_fields = ("wa_id", "user_id", "profile_name")
    list_filter = (("opted_out_at", admin.EmptyFieldListFilter),)
    date_hierarchy = "created_at"
    readonly_fields = ("wa_id", "user_id", "profile_name", "last_inbound_at", "created_at")


@admin.register(Conversation)
class ConversationAdmin(TenantOnlyAdmin):
    list_display = ("__str__", "status", "phone_number_id", "assigned_agent", "last_message_at", "created_at")
    list_filter = ("status", "phone_number_id")
    search_fields = ("contact__wa_id", "contact__user_id", "contact__profile_name")
    list_select_related = ("contact", "assigned_agent")
    date_hierarchy = "last_message_at"
    readonly_fields = ("contact", "phone_number_id", "last_message_at", "handed_off_at", "created_at")


@admin.register(Message)
class MessageAdmin(TenantOnlyAdmin):
    list_display = ("timestamp", "direction", "type", "status", "contact", "short_body", "media_status")
    list_filter = ("direction", "status", "type", "media_status")
    search_fields = (
        "conversation__contact__wa_id",
        "conversation__contact__user_id",
        "conversation__contact__profile_name",
        "body",
        "=wamid",
    )
    list_select_related = ("conversation__contact",)
    date_hierarchy = "timestamp"
    ordering = ("-timestamp", "-id")
    readonly_fields = [field.name for field in Message._meta.fields]
    actions = ["fetch_media_again"]
    show_full_result_count = False

    @admin.display(description="contact", ordering="conversation__contact__profile_name")
    def contact(self, obj: Message) -> str:
        return str(obj.conversation.contact)

    @admin.display(description="body")
    def short_body(self, obj: Message) -> str:
        return obj.body[:80]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Fetch media again", permissions=["change"])
    def fetch_media_again(self, request, queryset) -> None:
        from conversations.tasks.inbound import media_fetch_task

        wanted = queryset.exclude(Q(media_id="") | Q(media_status=MediaStatus.DOWNLOADED))
        ids = list(wanted.values_list("pk", flat=True))
        wanted.update(media_status=MediaStatus.PENDING, media_error="")
        for message_id in ids:
            media_fetch_task.delay(message_id=message_id)
        self.message_user(request, f"{len(ids)} download(s) queued.", messages.SUCCESS)
