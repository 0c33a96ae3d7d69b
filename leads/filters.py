"""One FilterSet per model, shared by the API, the CSV export and the dashboard."""

import re

import django_filters
from django.db.models import Q

from bizmitra.filters import FilterSet, IsoDateTimeFilter
from leads.choices import AppointmentStatus, LeadSource, LeadStage
from leads.models import Appointment, Lead

_NON_DIGITS = re.compile(r"[\s\-().+]")


class LeadFilter(FilterSet):
    stage = django_filters.MultipleChoiceFilter(choices=LeadStage.choices)
    source = django_filters.MultipleChoiceFilter(choices=LeadSource.choices)
    assigned_agent = django_filters.NumberFilter(field_name="assigned_agent_id")
    unassigned = django_filters.BooleanFilter(field_name="assigned_agent", lookup_expr="isnull")
    tag = django_filters.CharFilter(method="filter_tag")
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")
    follow_up_from = django_filters.DateFilter(field_name="follow_up_at", lookup_expr="date__gte")
    follow_up_to = django_filters.DateFilter(field_name="follow_up_at", lookup_expr="date__lte")
    sla_breached = django_filters.BooleanFilter(field_name="sla_breached_at", lookup_expr="isnull", exclude=True)
    min_score = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    max_score = django_filters.NumberFilter(field_name="score", lookup_expr="lte")
    search = django_filters.CharFilter(method="filter_search")
    ordering = django_filters.OrderingFilter(
        fields=("created_at", "updated_at", "score", "name", "follow_up_at", "stage_changed_at")
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    def filter_tag(self, queryset, name, value):
        # Several tags (comma-separated) means a lead carrying any of them.
        names = [t.strip().lower() for t in value.split(",") if t.strip()]
        if not names:
            return queryset
        return queryset.filter(pk__in=Lead.tags.through.objects.filter(tag__name__in=names).values("lead_id"))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q(name__icontains=value) | Q(email__icontains=value) | Q(contact__profile_name__icontains=value)
        digits = _NON_DIGITS.sub("", value)
        if digits.isdigit() and len(digits) >= 3:
            condition |= Q(phone__contains=digits)
        return queryset.filter(condition)


class AppointmentFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AppointmentStatus.choices)
    lead = django_filters.NumberFilter(field_name="lead_id")
    contact = django_filters.NumberFilter(field_name="contact_id")
    start_from = IsoDateTimeFilter(field_name="start_at", lookup_expr="gte")
    start_to = IsoDateTimeFilter(field_name="start_at", lookup_expr="lt")

    class Meta:
        model = Appointment
        fields: list[str] = []
