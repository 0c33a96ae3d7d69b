"""The leads board and the lead page: columns and counts, filters, moves through the state
machine, inline validation on edits, roles, escaping, query counts."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from leads.choices import LeadSource, LeadStage
from leads.models import Lead, LeadTransition
from leads.services import lead_create, lead_transition
from leads.tests.factories import make_agent, make_contact, make_message, unique_mobile
from tests.tenancy import tenant_client

XSS = "<img src=x onerror=alert(1)>"


def _lead(
    *, name="Asha", stage=LeadStage.NEW, score=0, agent=None, source=LeadSource.MANUAL, interest="", contact=None
):
    lead = lead_create(
        source=source,
        actor="test",
        contact=contact,
        fields={"name": name, "phone": unique_mobile(), "product_interest": interest, "assigned_agent": agent},
    )
    # Walk the pipeline the legal way to the wanted stage.
    path = {
        LeadStage.NEW: [],
        LeadStage.CONTACTED: [LeadStage.CONTACTED],
        LeadStage.QUALIFIED: [LeadStage.QUALIFIED],
        LeadStage.CONVERTED: [LeadStage.QUALIFIED, LeadStage.CONVERTED],
        LeadStage.PAID: [LeadStage.QUALIFIED, LeadStage.CONVERTED, LeadStage.PAID],
        LeadStage.LOST: [LeadStage.LOST],
    }[stage]
    lead.refresh_from_db()
    for to in path:
        if lead.stage != to:
            lead = lead_transition(lead=lead, to=to, actor="test", reason="setup")
    if score:
        Lead.objects.filter(pk=lead.pk).update(score=score)
    lead.refresh_from_db()
    return lead


@pytest.fixture
def owner(alpha, db):
    return tenant_client(alpha, login=True)


@pytest.fixture
def agent_user(alpha, db):
    with schema_context("alpha"):
        return make_agent(f"agent-{uuid.uuid4().hex[:6]}@alpha.test")


@pytest.fixture
def agent(alpha, agent_user):
    client = tenant_client(alpha)
    assert client.post("/login/", {"username": agent_user.email, "password": "agent-password"}).status_code == 302
    return client


def _count(html: str, stage: str) -> int:
    marker = f'<h2 class="board__col-title" id="col-{stage}">'
    tail = html.split(marker, 1)[1]
    return int(tail.split('data-count="', 1)[1].split('"', 1)[0])


def test_board_shows_a_column_per_stage_with_counts_and_escaped_cards(alpha, owner):
    with schema_context("alpha"):
        _lead(name=XSS)
        # Name, phone and interest complete a lead: it qualifies by itself.
        _lead(name="Ravi", score=35, interest="Implants")
        _lead(name="Meena", stage=LeadStage.LOST)
    response = owner.get("/leads/")
    html = response.content.decode()
    assert response.status_code == 200
    for _, label in LeadStage.choices:
        assert f">{label}</h2>" in html
    assert _count(html, "new") == 1 and _count(html, "qualified") == 1 and _count(html, "lost") == 1
    assert _count(html, "paid") == 0
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Implants" in html
    # The card's menu offers exactly the state machine's next stages.
    ravi = html.split('data-name="Ravi"', 1)[1].split("</li>", 1)[0]
    assert 'data-to="converted"' in ravi and 'data-to="lost"' in ravi and 'data-to="new"' not in ravi


def test_board_filters_by_search_score_owner_source_and_stage(alpha, owner, agent_user):
    with schema_context("alpha"):
        _lead(name="Kiran Hot", score=40, agent=agent_user)
        _lead(name="Kiran Cold", score=2, source=LeadSource.WEBSITE)
        _lead(name="Other", stage=LeadStage.CONTACTED, score=50)
    html = owner.get("/leads/", {"search": "kiran"}).content.decode()
    assert "Kiran Hot" in html and "Kiran Cold" in html and "Other" not in html
    html = owner.get("/leads/", {"min_score": "10", "max_score": "45"}).content.decode()
    assert "Kiran Hot" in html and "Kiran Cold" not in html and "Other" not in html
    html = owner.get("/leads/", {"assigned_agent": str(agent_user.pk)}).content.decode()
    assert "Kiran Hot" in html and "Kiran Cold" not in html
    html = owner.get("/leads/", {"source": "website"}).content.decode()
    assert "Kiran Cold" in html and "Kiran Hot" not in html
    html = owner.get("/leads/", {"stage": "contacted", "search": ""}).content.decode()
    assert "Other" in html and "Kiran" not in html and 'id="col-new"' not in html
    # htmx asks only for the board fragment.
    fragment = owner.get("/leads/", {"search": "kiran"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="board")
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()


def test_a_bad_filter_is_reported_not_a_500(alpha, owner):
    response = owner.get("/leads/", {"min_score": "lots", "created_from": "yesterday"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Some filters were ignored" in html and "min_score" in html


def test_board_query_count_does_not_grow_with_cards(alpha, owner):
    with schema_context("alpha"):
        for i in range(3):
            _lead(name=f"A{i}")
    owner.get("/leads/")
    with CaptureQueriesContext(connection) as few:
        owner.get("/leads/")
    with schema_context("alpha"):
        for i in range(12):
            _lead(name=f"B{i}", agent=None)
    with CaptureQueriesContext(connection) as many:
        owner.get("/leads/")
    assert len(many) == len(few), [q["sql"] for q in many]


def test_move_allowed_by_the_state_machine_is_recorded(alpha, owner):
    with schema_context("alpha"):
        lead = _lead(name="Asha")
    response = owner.post(f"/leads/{lead.pk}/move/", {"to": "contacted"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert "leads-changed" in response["HX-Trigger"] and "moved to Contacted" in response["HX-Trigger"]
    with schema_context("alpha"):
        lead.refresh_from_db()
        assert lead.stage == LeadStage.CONTACTED
        transition = LeadTransition.objects.get(lead=lead, to_stage="contacted")
        assert transition.actor == "owner@alpha.test"


def test_refused_move_says_why_and_changes_nothing(alpha, owner):
    with schema_context("alpha"):
        lead = _lead(name="Asha")
    response = owner.post(f"/leads/{lead.pk}/move/", {"to": "paid"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "cannot move to 'paid'" in response.content.decode()
    assert "Allowed next stages: contacted, qualified, lost" in response.content.decode()
    lost = owner.post(f"/leads/{lead.pk}/move/", {"to": "lost", "reason": ""}, HTTP_HX_REQUEST="true")
    assert lost.status_code == 422 and "Say why" in lost.content.decode()
    unknown = owner.post(f"/leads/{lead.pk}/move/", {"to": "won"}, HTTP_HX_REQUEST="true")
    assert unknown.status_code == 422
    with schema_context("alpha"):
        lead.refresh_from_db()
        assert lead.stage == LeadStage.NEW
        assert not LeadTransition.objects.filter(lead=lead).exists()


def test_agent_sees_own_and_unassigned_leads_only(alpha, agent, agent_user):
    with schema_context("alpha"):
        other = make_agent(f"other-{uuid.uuid4().hex[:6]}@alpha.test")
        mine = _lead(name="Mine", agent=agent_user)
        _lead(name="Nobody's")
        theirs = _lead(name="Theirs", agent=other)
    html = agent.get("/leads/").content.decode()
    assert "Mine" in html and "Nobody&#x27;s" in html and "Theirs" not in html
    assert agent.post(f"/leads/{theirs.pk}/move/", {"to": "contacted"}, HTTP_HX_REQUEST="true").status_code == 404
    assert agent.get(f"/leads/{theirs.pk}/").status_code == 404
    assert agent.get(f"/leads/{mine.pk}/").status_code == 200


def test_lead_page_shows_score_timeline_and_conversation_link(alpha, owner):
    with schema_context("alpha"):
        contact = make_contact(profile_name="Asha")
        make_message(contact=contact, body=f"Price of aligners? {XSS}")
        lead = _lead(name="Asha", contact=contact)
        lead_transition(lead=lead, to="contacted", actor="owner@alpha.test", reason="Called her")
        from leads.services import lead_signal_record

        lead_signal_record(lead=lead, kind="pricing_intent", detail="asked the price", dedupe_key="pricing_intent")
        conversation_id = contact.conversation.pk
    html = owner.get(f"/leads/{lead.pk}/").content.decode()
    assert f'href="/c/{conversation_id}/"' in html
    assert "Asked about pricing" in html and "+10" in html
    assert "New → Contacted" in html and "Called her" in html
    assert "Price of aligners?" in html and XSS not in html


def test_editing_a_lead_validates_like_the_api_with_inline_messages(alpha, owner):
    with schema_context("alpha"):
        lead = _lead(name="Asha")
        version = lead.updated_at.isoformat()
        phone = lead.phone
    form = {
        "version": version,
        "name": "Asha R",
        "email": "not-an-email",
        "phone": "12",
        "location": "",
        "product_interest": "",
        "notes": "",
    }
    response = owner.post(f"/leads/{lead.pk}/", form, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 422
    assert "is not a valid email address" in html and 'id="l-email-err"' in html
    assert "is not a phone number" in html or "not a valid phone number" in html
    assert 'value="Asha R"' in html  # what was typed stays in the form
    with schema_context("alpha"):
        lead.refresh_from_db()
        assert lead.name == "Asha" and lead.phone == phone  # nothing saved

    form |= {"email": "ASHA@Example.com", "phone": "098765 43210"}
    response = owner.post(f"/leads/{lead.pk}/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content.decode()
    with schema_context("alpha"):
        lead.refresh_from_db()
        assert (lead.name, lead.email, lead.phone) == ("Asha R", "asha@example.com", "+919876543210")


def test_a_stale_edit_is_refused_not_silently_overwriting(alpha, owner):
    with schema_context("alpha"):
        lead = _lead(name="Asha")
        stale = lead.updated_at.isoformat()
        from leads.services import lead_update

        lead_update(lead=lead, fields={"location": "Pune"}, actor="someone")
    form = {
        "version": stale,
        "name": "Asha",
        "location": "Mumbai",
        "email": "",
        "phone": "",
        "product_interest": "",
        "notes": "",
    }
    response = owner.post(f"/leads/{lead.pk}/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "Someone else changed this lead" in response.content.decode()
    with schema_context("alpha"):
        lead.refresh_from_db()
        assert lead.location == "Pune"


def test_csv_export_link_carries_the_filters(alpha, owner):
    with schema_context("alpha"):
        _lead(name="Kiran", score=40)
        _lead(name="Zed", score=1)
    html = owner.get("/leads/", {"min_score": "10"}).content.decode()
    href = html.split('id="lead-export" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert href == "/api/leads/export.csv?min_score=10"
    body = b"".join(owner.get(href).streaming_content).decode()
    assert "Kiran" in body and "Zed" not in body
