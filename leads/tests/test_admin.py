"""Tenant admin for leads: lists, read-only history, edits through the services, CSV export."""

import pytest
from django_tenants.utils import schema_context

from leads.models import GoogleCalendarSettings, Lead
from leads.services import lead_capture, lead_signal_record, lead_transition
from leads.tests.factories import unique_mobile
from tests.tenancy import tenant_client


@pytest.fixture
def admin_client(alpha, db):
    return tenant_client(alpha, login=True)


def _lead(**fields) -> Lead:
    with schema_context("alpha"):
        lead = lead_capture(phone=unique_mobile(), fields=fields, source="website", actor="test")
        lead_transition(lead=lead, to="contacted", actor="test", reason="called back")
        lead_signal_record(lead=lead, kind="pricing_intent", detail='said "price"')
        return lead


def test_changelist_filters_and_search(admin_client):
    lead = _lead(name="Farida")
    page = admin_client.get("/admin/leads/lead/?stage__exact=contacted&q=farida")
    assert page.status_code == 200 and b"Farida" in page.content
    assert b"Farida" not in admin_client.get("/admin/leads/lead/?stage__exact=new").content
    assert admin_client.get(f"/admin/leads/lead/{lead.pk}/change/").status_code == 200


def test_change_page_shows_history_read_only(admin_client):
    lead = _lead(name="Gopal")
    page = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "called back" in page and "said &quot;price&quot;" in page
    assert 'name="transitions-0-reason"' not in page  # not editable


def test_edit_goes_through_the_service(admin_client):
    lead = _lead(name="Hari")
    response = admin_client.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        {
            "name": "Hari Prasad",
            "email": "HARI@Example.com",
            "phone": lead.phone,
            "location": "",
            "product_interest": "",
            "assigned_agent": "",
            "tags": [],
            "follow_up_at_0": "",
            "follow_up_at_1": "",
            "notes": "",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
            "signals-TOTAL_FORMS": "0",
            "signals-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    with schema_context("alpha"):
        lead.refresh_from_db()
        assert lead.name == "Hari Prasad" and lead.email == "hari@example.com"


def test_invalid_phone_is_a_form_error(admin_client):
    lead = _lead(name="Indu")
    response = admin_client.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        {
            "name": "Indu",
            "phone": "123",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
            "signals-TOTAL_FORMS": "0",
            "signals-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200 and b"not a valid phone number" in response.content


def test_csv_export_action(admin_client):
    lead = _lead(name="Jaya")
    response = admin_client.post(
        "/admin/leads/lead/", {"action": "export_csv", "_selected_action": [lead.pk], "index": 0}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert "Jaya" in body and lead.phone in body


def test_google_calendar_key_is_validated_and_never_shown(admin_client):
    bad = admin_client.post(
        "/admin/leads/googlecalendarsettings/add/",
        {"calendar_id": "primary", "service_account_key": "{not json", "is_active": "on"},
    )
    assert bad.status_code == 200 and b"not valid JSON" in bad.content
    with schema_context("alpha"):
        assert not GoogleCalendarSettings.objects.exists()
