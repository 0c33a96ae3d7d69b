"""Date-time filters refuse what PostgreSQL cannot take with a 400 naming the filter (issue 13 §0)."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from bizmitra.filters import IsoDateTimeField
from conversations.models import Contact, Conversation

pytestmark = pytest.mark.django_db


def _api(onboarding) -> Client:
    return Client(HTTP_HOST=onboarding.domain.domain, HTTP_AUTHORIZATION=f"Bearer {onboarding.api_key.raw_key}")


def _fields(response) -> dict:
    # The read APIs answer invalid filters 400, the appointment and document APIs 422 (their
    # views' own choice): either way a client error naming the filter, never a 500.
    assert response.status_code in (400, 422), response.content
    body = response.json()
    assert body["error"] == "validation_error"
    return body["fields"]


@pytest.mark.parametrize("offset", ["-16:48", "+16:00", "+23:59"])
def test_appointments_start_from_with_an_impossible_offset_is_400(alpha, offset):
    fields = _fields(_api(alpha).get("/api/appointments/", {"start_from": f"2020-01-01T00:00:00{offset}"}))
    assert "start_from" in fields


def test_the_widest_offset_postgresql_takes_is_fine(alpha):
    assert _api(alpha).get("/api/appointments/", {"start_from": "2020-01-01T00:00:00-15:59"}).status_code == 200


def test_documents_created_after_is_checked_too(alpha):
    assert "created_after" in _fields(_api(alpha).get("/api/documents/", {"created_after": "2020-01-01T00:00-16:48"}))


def test_messages_timestamp_range_names_the_filter(alpha):
    with schema_context(alpha.tenant.schema_name):
        conversation = Conversation.objects.create(
            contact=Contact.objects.create(wa_id="15550001111"), phone_number_id="1"
        )
    response = _api(alpha).get(
        f"/api/conversations/{conversation.pk}/messages/", {"timestamp_after": "2020-01-01T00:00:00+17:00"}
    )
    assert "timestamp" in _fields(response) or "timestamp_after" in _fields(response)


def test_the_field_refuses_a_date_time_past_the_calendar():
    with pytest.raises(Exception, match="out of range"):
        IsoDateTimeField().clean("9999-12-31T23:59:59-10:00")
