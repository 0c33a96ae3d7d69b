"""One FilterSet per model, shared by the REST API and the dashboard."""

import re

import django_filters
from django.db.models import Q, QuerySet

from bizmitra.filters import FilterSet, IsoDateTimeFromToRangeFilter
from conversations.choices import ConversationStatus, Direction, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message

# What people type for a phone number: "+91 98765-43210", "(555) 078 3881".
_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]+$")


def _wa_id(value: str) -> str:
    """A typed phone number as Meta's wa_id (digits only, no leading +)."""
    return re.sub(r"\D", "", value) if _PHONE_LIKE.match(value) else value.strip()


def _contact_search(prefix: str, value: str) -> Q:
    """Contacts whose name, wa_id or business-scoped user id contain ``value``."""
    value = value.strip()
    query = Q(**{f"{prefix}profile_name__icontains": value}) | Q(**{f"{prefix}user_id__icontains": value})
    wa_id = _wa_id(value)
    if wa_id:
        query |= Q(**{f"{prefix}wa_id__contains": wa_id})
    return query


class ContactFilterSet(FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search name, wa_id or user id")
    wa_id = django_filters.CharFilter(method="filter_wa_id")
    user_id = django_filters.CharFilter(field_name="user_id")
    opted_out = django_filters.BooleanFilter(field_name="opted_out_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Contact
        fields = ["q", "wa_id", "user_id", "opted_out"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(_contact_search("", value)) if value.strip() else queryset

    def filter_wa_id(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(wa_id=_wa_id(value))


class ConversationFilterSet(FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search contact name, wa_id or user id")
    contact = django_filters.NumberFilter(field_name="contact_id")
    wa_id = django_filters.CharFilter(method="filter_wa_id")
    user_id = django_filters.CharFilter(field_name="contact__user_id")
    status = django_filters.MultipleChoiceFilter(choices=ConversationStatus.choices)
    phone_number_id = django_filters.CharFilter(field_name="phone_number_id")

    class Meta:
        model = Conversation
        fields = ["q", "contact", "wa_id", "user_id", "status", "phone_number_id"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(_contact_search("contact__", value)) if value.strip() else queryset

    def filter_wa_id(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(contact__wa_id=_wa_id(value))


class MessageFilterSet(FilterSet):
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    type = django_filters.MultipleChoiceFilter(choices=MessageType.choices)
    status = django_filters.MultipleChoiceFilter(choices=MessageStatus.choices)
    wamid = django_filters.CharFilter(field_name="wamid")
    # ?timestamp_after=…&timestamp_before=… (ISO 8601), for clients that sync incrementally.
    timestamp = IsoDateTimeFromToRangeFilter(field_name="timestamp")

    class Meta:
        model = Message
        fields = ["direction", "type", "status", "wamid", "timestamp"]
