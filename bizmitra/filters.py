"""Date-time filters every FilterSet uses (django-filter), checked against what PostgreSQL takes.

PostgreSQL refuses a time-zone offset outside ±15:59 ("time zone displacement out of
range"), so ``?start_from=2020-01-01T00:00:00-16:48`` reached the database and came back
as a 500 (issue 13 §0: all 19 server errors schemathesis found). Python's ``datetime``
accepts offsets up to ±23:59, so the form field refuses the rest itself: the API answers
400 with the filter named, like any other invalid filter value. One home: FilterSets use
``IsoDateTimeFilter`` / ``IsoDateTimeFromToRangeFilter`` from here, and ``FilterSet`` maps
model date-time fields listed in ``Meta.fields`` to the same field.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import django_filters
from django import forms
from django.db import models
from django_filters import fields as filter_fields

MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
"""The widest offset PostgreSQL's ``timestamptz`` input takes."""


class IsoDateTimeField(filter_fields.IsoDateTimeField):
    """ISO 8601 date-time whose offset PostgreSQL can take and whose UTC value exists."""

    default_error_messages = {
        "offset": "The time-zone offset must be between -15:59 and +15:59.",
        "range": "The date-time is out of range.",
    }

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return result
        offset = result.utcoffset()
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise forms.ValidationError(self.error_messages["offset"], code="offset")
        try:
            result.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(self.error_messages["range"], code="range") from None
        return result


class IsoDateTimeRangeField(filter_fields.RangeField):
    widget = filter_fields.DateRangeWidget

    def __init__(self, *args, **kwargs):
        super().__init__((IsoDateTimeField(), IsoDateTimeField()), *args, **kwargs)


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = IsoDateTimeField


class IsoDateTimeFromToRangeFilter(django_filters.IsoDateTimeFromToRangeFilter):
    field_class = IsoDateTimeRangeField


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet with model date-time fields filtered through ``IsoDateTimeField``."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.DateTimeField: {"filter_class": IsoDateTimeFilter},
    }
