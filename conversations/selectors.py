"""Reads of contacts, conversations and messages (call inside the tenant's schema).

Tenant isolation comes from the schema: every query here only sees the rows of
the tenant whose schema is active, so another tenant's ids simply do not exist.
Owners and API keys read all of them; pass ``user=`` (a tenant user) to apply the agent rule
of the dashboard: agents see the conversations assigned to them and the unassigned ones.
"""

from django.db import connection
from django.db.models import F, Q, QuerySet

from bizmitra.errors import NotFound
from conversations.models import Contact, Conversation, Message
from tenants.permissions import user_is_owner as tenant_user_is_owner


def conversation_summary() -> dict:
    return {
        "tenant": connection.schema_name,
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
    }


def conversation_visible_q(user) -> Q:
    """The conversations ``user`` may see: all for owners, API-key principals and None;
    for agents (tenant users without owner rights) their own and the unassigned ones."""
    from django.contrib.auth import get_user_model

    if user is None or not isinstance(user, get_user_model()) or user_is_owner(user):
        return Q()
    return Q(assigned_agent=user) | Q(assigned_agent__isnull=True)


def conversation_list(*, user=None) -> QuerySet[Conversation]:
    """Newest activity first; conversations without any message yet come last, newest first."""
    # PostgreSQL sorts NULLs first in DESC order, which would float empty conversations to the top.
    return (
        Conversation.objects.select_related("contact")
        .filter(conversation_visible_q(user))
        .order_by(F("last_message_at").desc(nulls_last=True), "-id")
    )


def conversation_get(*, conversation_id: int, user=None) -> Conversation:
    """The conversation with this id (visible to ``user``), or ``NotFound``."""
    try:
        return conversation_list(user=user).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise NotFound("Conversation not found.") from None


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages in the order they happened (oldest first)."""
    return conversation.messages.order_by("timestamp", "id")


def message_get(*, message_id: int, user=None) -> Message:
    """The message with this id (in a conversation visible to ``user``), or ``NotFound``."""
    try:
        rule = conversation_visible_q(user)
        messages = (
            Message.objects.filter(conversation__in=Conversation.objects.filter(rule)) if rule else Message.objects
        )
        return messages.get(pk=message_id)
    except Message.DoesNotExist:
        raise NotFound("Message not found.") from None


def contact_list() -> QuerySet[Contact]:
    """Newest contacts first, each with the id of its conversation (``None`` if it has none yet)."""
    return Contact.objects.annotate(conversation_id=F("conversation__id")).order_by("-created_at", "-id")


def contact_get(*, contact_id: int) -> Contact:
    """The contact with this id, or ``NotFound``."""
    try:
        return contact_list().get(pk=contact_id)
    except Contact.DoesNotExist:
        raise NotFound("Contact not found.") from None


def user_is_owner(user) -> bool:
    """``tenants.permissions.user_is_owner`` (owners and superusers configure everything; other
    tenant users are agents), remembered on the user object: a page asks many times."""
    if not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, "_bizmitra_is_owner", None)
    if cached is None:
        cached = tenant_user_is_owner(user)
        user._bizmitra_is_owner = cached
    return cached


def pending_status_count() -> int:
    """How many status webhooks are parked for a wamid not stored yet, in the current tenant's
    schema (call inside it; for the metrics). Rows past Meta's 7-day retry horizon are
    removed by ``services.sweeps.pending_statuses_expire``."""
    from conversations.models import PendingStatus

    return PendingStatus.objects.count()
