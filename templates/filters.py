"""FilterSets of templates and flow rules, shared by the API (and any dashboard list)."""

import django_filters

from bizmitra.filters import FilterSet
from templates.models import FlowRule, MessageTemplate


class MessageTemplateFilter(FilterSet):
    q = django_filters.CharFilter(method="search", label="name, key or text contains")

    class Meta:
        model = MessageTemplate
        fields = ["kind", "is_active", "meta_status", "meta_language"]

    def search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(name__icontains=value) | Q(key__iexact=value) | Q(body__icontains=value))


class FlowRuleFilter(FilterSet):
    bot = django_filters.NumberFilter(field_name="bot_id", label="bot id")

    class Meta:
        model = FlowRule
        fields = ["action", "match_type", "is_active", "builtin_intent"]
