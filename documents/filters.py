"""One FilterSet for documents, shared by the API and the dashboard page."""

import django_filters

from bizmitra.filters import FilterSet, IsoDateTimeFilter
from documents.choices import DocumentKind, DocumentStatus, Validation
from documents.models import Document


class DocumentFilter(FilterSet):
    kind = django_filters.ChoiceFilter(choices=DocumentKind.choices)
    status = django_filters.ChoiceFilter(choices=DocumentStatus.choices)
    validation = django_filters.ChoiceFilter(choices=Validation.choices)
    contact = django_filters.NumberFilter(field_name="contact_id")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    date_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    date_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")
    q = django_filters.CharFilter(method="search", label="Text or field value contains")

    class Meta:
        model = Document
        fields = ["kind", "status", "validation", "contact"]

    def search(self, queryset, name, value):
        from django.db.models import Exists, OuterRef, Q

        from documents.models import DocumentField

        matching = DocumentField.objects.filter(document=OuterRef("pk"), value__icontains=value)
        return queryset.filter(Q(text__icontains=value) | Q(filename__icontains=value) | Exists(matching))
