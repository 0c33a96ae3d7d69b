"""Leads API: list with filters, search and pagination, edits, transitions, score, CSV, tenant isolation."""

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from leads.models import Lead, LeadTransition
from leads.services import lead_capture, lead_signal_record, lead_transition, lead_update
from leads.tests.factories import make_agent, make_contact, unique_mobile
from tests.tenancy import tenant_client


@pytest.fixture
def api(alpha, db):
    """A client on Alpha's domain authenticated with Alpha's API key."""
    return Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")


def _make(**fields) -> Lead:
    with schema_context("alpha"):
        return lead_capture(phone=unique_mobile(), fields=fields, source="website", actor="test")


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


class TestList:
    def test_pagination(self, api):
        ids = {_make(name=f"Lead {n}").pk for n in range(12)}
        first = api.get("/api/leads/?page_size=5").json()
        assert first["count"] == 12 and len(first["results"]) == 5 and first["next"]
        pages = [first] + [api.get(f"/api/leads/?page_size=5&page={n}").json() for n in (2, 3)]
        seen = [row["id"] for page in pages for row in page["results"]]
        assert set(seen) == ids and len(seen) == 12
        assert api.get("/api/leads/?page_size=5&page=4").status_code == 404

    def test_filters(self, api):
        with schema_context("alpha"):
            agent = make_agent()
        new = _make(name="Asha")
        qualified = _make(name="Bala", product_interest="Ghee")
        with schema_context("alpha"):
            mine = lead_update(lead=_make(name="Chitra"), fields={"assigned_agent": agent, "tags": ["VIP"]}, actor="t")
            lead_update(lead=new, fields={"tags": ["wholesale"]}, actor="t")
            Lead.objects.filter(pk=new.pk).update(created_at=timezone.now() - timedelta(days=10))

        def ids(query: str) -> set[int]:
            response = api.get(f"/api/leads/?{query}")
            assert response.status_code == 200, response.content
            return {row["id"] for row in response.json()["results"]}

        assert ids("stage=qualified") == {qualified.pk}
        assert ids("stage=new&stage=qualified") == {new.pk, qualified.pk, mine.pk}
        assert ids(f"assigned_agent={agent.pk}") == {mine.pk}
        assert ids("unassigned=true") == {new.pk, qualified.pk}
        assert ids("tag=vip") == {mine.pk}
        assert ids("tag=vip,wholesale") == {mine.pk, new.pk}
        recent = (timezone.now() - timedelta(days=2)).date().isoformat()
        assert ids(f"created_from={recent}") == {qualified.pk, mine.pk}
        assert ids(f"created_to={recent}") == {new.pk}
        bad = api.get("/api/leads/?stage=won")
        assert bad.status_code == 422 and "stage" in bad.json()["fields"]

    def test_search_by_name_email_and_phone(self, api):
        ravi = _make(name="Ravi Kumar", email="ravi@shop.in")
        other = _make(name="Sita")
        assert [r["id"] for r in api.get("/api/leads/?search=kumar").json()["results"]] == [ravi.pk]
        assert [r["id"] for r in api.get("/api/leads/?search=RAVI@shop").json()["results"]] == [ravi.pk]
        digits = other.phone[-7:]
        spaced = f"{digits[:3]} {digits[3:]}"
        assert [r["id"] for r in api.get(f"/api/leads/?search={spaced}").json()["results"]] == [other.pk]

    def test_list_query_count_does_not_grow_with_leads(self, api, django_assert_max_num_queries):
        with schema_context("alpha"):
            agent = make_agent()
        for n in range(3):
            with schema_context("alpha"):
                lead = lead_capture(contact=make_contact(), fields={"name": f"L{n}"}, source="whatsapp", actor="t")
                lead_update(lead=lead, fields={"assigned_agent": agent, "tags": ["a", "b"]}, actor="t")
        with django_assert_max_num_queries(50) as few:
            api.get("/api/leads/")
        for n in range(10):
            with schema_context("alpha"):
                lead = lead_capture(contact=make_contact(), fields={"name": f"M{n}"}, source="whatsapp", actor="t")
                lead_update(lead=lead, fields={"assigned_agent": agent, "tags": ["a", "c"]}, actor="t")
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = api.get("/api/leads/")
        row = response.json()["results"][0]
        assert row["assigned_agent"]["id"] == agent.pk and row["contact"]["wa_id"] and len(row["tags"]) == 2


class TestCreateAndEdit:
    def test_create_normalises_and_records(self, api):
        response = api.post(
            "/api/leads/",
            {"name": "Neha", "email": "NEHA@Mail.com", "phone": "98765 12345", "tags": ["Hot"]},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["email"] == "neha@mail.com" and body["phone"] == "+919876512345"
        assert body["source"] == "manual" and body["stage"] == "new" and body["tags"] == ["hot"]
        assert body["allowed_transitions"] == ["contacted", "qualified", "lost"]

    def test_invalid_email_and_phone_are_422_with_field_errors(self, api):
        response = api.post(
            "/api/leads/", {"name": "X", "email": "x@", "phone": "123"}, content_type="application/json"
        )
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "validation_error" and set(body["fields"]) == {"email", "phone"}
        with schema_context("alpha"):
            assert not Lead.objects.filter(name="X").exists()

    def test_duplicate_phone_is_409(self, api):
        lead = _make(name="First")
        response = api.post("/api/leads/", {"name": "Again", "phone": lead.phone}, content_type="application/json")
        assert response.status_code == 409 and response.json()["lead_id"] == lead.pk

    def test_patch_updates_fields_and_can_qualify(self, api):
        lead = _make(name="Om")
        response = api.patch(
            f"/api/leads/{lead.pk}/",
            {"product_interest": "Paneer", "notes": "Call after 6"},
            content_type="application/json",
        )
        assert response.status_code == 200
        assert response.json()["stage"] == "qualified"  # name + phone + product interest
        assert response.json()["notes"] == "Call after 6"
        response = api.patch(f"/api/leads/{lead.pk}/", {"email": "bad"}, content_type="application/json")
        assert response.status_code == 422 and "email" in response.json()["fields"]


class TestTransitionsApi:
    def test_legal_transition_is_recorded_with_the_signed_in_user(self, alpha, db):
        lead = _make(name="Tara")
        client = tenant_client(alpha, login=True)
        response = client.post(
            f"/api/leads/{lead.pk}/transition/",
            {"to": "contacted", "reason": "called"},
            content_type="application/json",
        )
        assert response.status_code == 200 and response.json()["stage"] == "contacted"
        with schema_context("alpha"):
            transition = LeadTransition.objects.get(lead_id=lead.pk)
            assert transition.actor == alpha.owner_email and transition.by_user.username == alpha.owner_email

    def test_illegal_transition_is_409_with_a_clear_message(self, api):
        lead = _make(name="Uma")
        response = api.post(f"/api/leads/{lead.pk}/transition/", {"to": "paid"}, content_type="application/json")
        assert response.status_code == 409
        body = response.json()
        assert body["error"] == "conflict"
        assert body["message"] == (
            "A lead in stage 'new' cannot move to 'paid'. Allowed next stages: contacted, qualified, lost."
        )
        assert body["allowed"] == ["contacted", "qualified", "lost"]

    def test_unknown_stage_or_lost_without_reason_is_422(self, api):
        lead = _make(name="Vik")
        unknown = api.post(f"/api/leads/{lead.pk}/transition/", {"to": "won"}, content_type="application/json")
        assert unknown.status_code == 422 and "to" in unknown.json()["fields"]
        lost = api.post(f"/api/leads/{lead.pk}/transition/", {"to": "lost"}, content_type="application/json")
        assert lost.status_code == 422 and "reason" in lost.json()["fields"]
        missing = api.post(f"/api/leads/{lead.pk}/transition/", {}, content_type="application/json")
        assert missing.status_code == 422 and "to" in missing.json()["fields"]


class TestScoreApi:
    def test_score_breakdown(self, api):
        lead = _make(name="Wasim")
        with schema_context("alpha"):
            lead_signal_record(lead=lead, kind="pricing_intent", detail='said "price"')
            lead_signal_record(lead=lead, kind="reply", dedupe_key="m1")
        body = api.get(f"/api/leads/{lead.pk}/score/").json()
        assert body["score"] == 12
        assert {(row["kind"], row["points"]) for row in body["by_kind"]} == {("pricing_intent", 10), ("reply", 2)}
        assert body["signals"][0]["detail"] in ('said "price"', "")


class TestCsvExport:
    def test_export_honours_filters_and_search(self, api):
        a = _make(name="Anil", product_interest="Ghee")
        _make(name="Bhavna")
        c = _make(name='=HYPERLINK("http://evil")')
        with schema_context("alpha"):
            lead_transition(lead=c, to="contacted", actor="t")
        response = api.get("/api/leads/export.csv?stage=qualified")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        rows = _csv(response)
        assert [int(r["id"]) for r in rows] == [a.pk]
        assert rows[0]["phone"] == a.phone and rows[0]["stage"] == "qualified"

        rows = _csv(api.get("/api/leads/export.csv?search=hyperlink"))
        assert rows[0]["name"].startswith("'=")  # neutralised formula

    def test_export_of_everything_has_all_columns(self, api):
        _make(name="Full")
        rows = _csv(api.get("/api/leads/export.csv"))
        assert {"id", "name", "email", "phone", "stage", "score", "assigned_agent", "tags"} <= set(rows[0])


class TestTenantIsolation:
    def test_another_tenants_lead_is_404(self, api, beta):
        with schema_context("beta"):
            theirs = lead_capture(phone=unique_mobile(), fields={"name": "Beta's"}, source="website", actor="t")
        with schema_context("alpha"):
            # Ids are per schema; make sure Alpha has no lead of its own with this number.
            Lead.objects.filter(pk=theirs.pk).delete()
        beta_api = Client(HTTP_HOST=beta.domain.domain, HTTP_AUTHORIZATION=f"Bearer {beta.api_key.raw_key}")
        assert beta_api.get(f"/api/leads/{theirs.pk}/").status_code == 200
        for response in (
            api.get(f"/api/leads/{theirs.pk}/"),
            api.patch(f"/api/leads/{theirs.pk}/", {"name": "x"}, content_type="application/json"),
            api.get(f"/api/leads/{theirs.pk}/score/"),
            api.post(f"/api/leads/{theirs.pk}/transition/", {"to": "contacted"}, content_type="application/json"),
        ):
            assert response.status_code == 404
            assert response.json()["error"] == "not_found"
        assert all(row["name"] != "Beta's" for row in api.get("/api/leads/").json()["results"])

    def test_beta_key_is_refused_on_alpha(self, beta, db):
        client = Client(HTTP_HOST="alpha.test", HTTP_AUTHORIZATION=f"Bearer {beta.api_key.raw_key}")
        assert client.get("/api/leads/").status_code == 401

    def test_anonymous_is_refused(self, alpha, db):
        assert tenant_client(alpha).get("/api/leads/").status_code in (401, 403)
