"""Bulk move and bulk assign on the leads board: only allowed transitions, one reason per
refused lead, agents limited to the leads they see, bad input a 422 naming the field."""

import uuid

import pytest
from django_tenants.utils import schema_context

from bizmitra.errors import ValidationFailed
from leads.choices import LeadStage
from leads.models import Lead, LeadTransition
from leads.services import leads_bulk_assign, leads_bulk_move
from leads.tests.factories import make_agent
from leads.tests.test_dashboard_board import _lead
from tests.tenancy import tenant_client


@pytest.fixture
def owner_user(alpha, db):
    from django.contrib.auth import get_user_model

    with schema_context("alpha"):
        return get_user_model().objects.get(email=alpha.owner_email)


def test_bulk_move_moves_the_allowed_and_gives_each_refused_lead_its_reason(alpha, owner_user):
    with schema_context("alpha"):
        new = _lead(name="New one")
        contacted = _lead(name="Contacted one", stage=LeadStage.CONTACTED)
        paid = _lead(name="Paid one", stage=LeadStage.PAID)
        results = leads_bulk_move(
            user=owner_user, lead_ids=[new.pk, paid.pk, contacted.pk, 999999], to="qualified", actor=owner_user
        )
        by_id = {r.lead_id: r for r in results}
        assert by_id[new.pk].ok and by_id[contacted.pk].ok
        assert not by_id[paid.pk].ok
        assert "cannot move to 'qualified'" in by_id[paid.pk].reason and "Paid one" == by_id[paid.pk].name
        assert not by_id[999999].ok and "Not found" in by_id[999999].reason
        assert [r.ok for r in results] == [True, True, False, False]  # done first, refused after
        assert set(Lead.objects.filter(pk__in=[new.pk, contacted.pk]).values_list("stage", flat=True)) == {"qualified"}
        assert Lead.objects.get(pk=paid.pk).stage == "paid"
        assert LeadTransition.objects.filter(lead=new, to_stage="qualified", actor=owner_user.email).exists()


def test_bulk_move_refuses_bad_input_before_moving_anything(alpha, owner_user):
    with schema_context("alpha"):
        lead = _lead(name="Keep")
        for kwargs, field in (
            ({"to": "heaven"}, "to"),
            ({"to": "lost"}, "reason"),
            ({"to": "contacted", "lead_ids": []}, "lead"),
            ({"to": "contacted", "lead_ids": ["x"]}, "lead"),
        ):
            with pytest.raises(ValidationFailed) as caught:
                leads_bulk_move(user=owner_user, actor=owner_user, **{"lead_ids": [lead.pk], **kwargs})
            assert field in caught.value.fields
        assert Lead.objects.get(pk=lead.pk).stage == "new"


def test_agents_bulk_change_only_the_leads_they_may_see(alpha, db):
    with schema_context("alpha"):
        me = make_agent(f"me-{uuid.uuid4().hex[:6]}@alpha.test")
        other = make_agent(f"other-{uuid.uuid4().hex[:6]}@alpha.test")
        mine = _lead(name="Mine", agent=me)
        theirs = _lead(name="Theirs", agent=other)
        results = leads_bulk_assign(user=me, lead_ids=[mine.pk, theirs.pk], agent=None, actor=me)
        assert [(r.lead_id, r.ok) for r in results] == [(mine.pk, True), (theirs.pk, False)]
        assert Lead.objects.get(pk=mine.pk).assigned_agent_id is None
        assert Lead.objects.get(pk=theirs.pk).assigned_agent_id == other.pk


def test_board_bulk_endpoint_moves_assigns_and_reports(alpha, db):
    client = tenant_client(alpha, login=True)
    with schema_context("alpha"):
        agent = make_agent(f"agent-{uuid.uuid4().hex[:6]}@alpha.test")
        a = _lead(name="Asha")
        b = _lead(name="<b>Bilal</b>", stage=LeadStage.LOST)
    response = client.post(
        "/leads/bulk/", {"action": "move", "lead": [a.pk, b.pk], "to": "contacted"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>1</strong> lead moved to Contacted" in html and "<strong>1</strong> refused" in html
    assert "&lt;b&gt;Bilal&lt;/b&gt;" in html and "<b>Bilal</b>" not in html
    assert "leads-changed" in response["HX-Trigger"]
    response = client.post("/leads/bulk/", {"action": "assign", "lead": [a.pk], "assigned_agent": agent.pk})
    assert response.status_code == 200
    with schema_context("alpha"):
        assert Lead.objects.get(pk=a.pk).assigned_agent_id == agent.pk
    bad = client.post("/leads/bulk/", {"action": "move", "lead": [a.pk], "to": "lost"})
    assert bad.status_code == 422 and "Required when marking leads lost" in bad.content.decode()
    assert client.post("/leads/bulk/", {"action": "assign", "lead": [a.pk], "assigned_agent": "x"}).status_code == 422
    assert client.post("/leads/bulk/", {"action": "explode", "lead": [a.pk]}).status_code == 422


def test_board_has_the_bulk_bar_and_a_checkbox_per_card(alpha, db):
    client = tenant_client(alpha, login=True)
    with schema_context("alpha"):
        lead = _lead(name="Tickable")
    html = client.get("/leads/").content.decode()
    assert 'id="bulk-form"' in html and 'name="action" value="move"' in html
    assert f'name="lead" value="{lead.pk}" form="bulk-form" aria-label="Select Tickable"' in html
