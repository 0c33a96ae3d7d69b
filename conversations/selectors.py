"""Reads of conversations and messages (call inside the tenant's schema)."""

from django.db import connection
from django.db.models import QuerySet

from conversations.models import Conversation, Message


def conversation_summary() -> dict:
    return {
        "tenant": connection.schema_name,
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
    }


def conversation_list() -> QuerySet[Conversation]:
    return Conversation.objects.select_related("contact").order_by("-last_message_at", "-id")


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("timestamp", "id")
