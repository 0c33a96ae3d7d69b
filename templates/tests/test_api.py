"""/api/templates/ and /api/flow-rules/: tenant-authenticated, paginated, validated."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from templates.models import FlowRule, MessageTemplate
from templates.tests.factories import button_template, text_template, wire
from tests.tenancy import tenant_client


@pytest.fixture
def api(in_alpha, alpha):
    client = tenant_client(alpha)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {alpha.api_key.raw_key}"
    return client


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


def patch(client, url, data):
    return client.patch(url, data, content_type="application/json")


def test_requires_tenant_credentials(alpha, beta, db):
    assert tenant_client(alpha).get("/api/templates/").status_code in (401, 403)
    beta_key_on_alpha = tenant_client(alpha).get("/api/templates/", HTTP_AUTHORIZATION=f"Bearer {beta.api_key.raw_key}")
    assert beta_key_on_alpha.status_code == 401


def test_list_is_paginated_filtered_and_has_a_fixed_query_count(api):
    def listed():
        with CaptureQueriesContext(connection) as queries:
            body = api.get("/api/templates/?kind=interactive_button").json()
        return body, len(queries)

    button_template(name="Menu 0", titles=("A", "B"))
    _, few = listed()
    for index in range(1, 5):
        wire(button_template(name=f"Menu {index}", titles=("A", "B")).buttons.first(), text_template(name=f"T{index}"))
    body, many = listed()
    # Tenant + API key lookups, count, page, buttons, rows (+ search_path): no N+1.
    assert few == many <= 9
    assert body["count"] == 5 and len(body["results"]) == 5
    assert {len(t["buttons"]) for t in body["results"]} == {2}
    assert set(body) >= {"count", "next", "previous", "results"}


def test_create_button_template_generates_key_and_payload_ids(api):
    target = text_template(name="Prices")
    response = post(
        api,
        "/api/templates/",
        {
            "name": "Main menu",
            "kind": "interactive_button",
            "body": "How can we help, {{first_name}}?",
            "key": "tmpl_chosen00",
            "buttons": [{"title": "Prices", "next_template": target.key, "next_state": "prices"}, {"title": "Hours"}],
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["key"].startswith("tmpl_") and body["key"] != "tmpl_chosen00"
    assert [b["title"] for b in body["buttons"]] == ["Prices", "Hours"]
    assert body["buttons"][0]["next_template"] == target.key and body["buttons"][0]["payload_id"].startswith("btn_")
    assert api.get(f"/api/templates/{body['key']}/").json()["name"] == "Main menu"


def test_invalid_template_reports_every_problem(api):
    response = post(
        api,
        "/api/templates/",
        {
            "name": "Bad",
            "kind": "interactive_button",
            "body": "x",
            "buttons": [{"title": "t" * 21}, {"title": "Same"}, {"title": "Same"}, {"title": "Four"}],
        },
    )
    assert response.status_code == 422
    fields = response.json()["fields"]
    assert "buttons" in fields and "buttons[0].title" in fields
    assert not MessageTemplate.objects.filter(name="Bad").exists()


def test_cross_tenant_template_key_is_rejected(api, beta):
    with schema_context(beta.tenant.schema_name):
        beta_template = text_template(name="Beta only")
    response = post(
        api,
        "/api/templates/",
        {
            "name": "Menu",
            "kind": "interactive_button",
            "body": "x",
            "buttons": [{"title": "Go", "next_template": beta_template.key}],
        },
    )
    assert response.status_code in (400, 422)
    assert "No template of this business has the key" in str(response.json()["fields"])
    rule = post(api, "/api/flow-rules/", {"name": "r", "pattern": "hi", "template": beta_template.key})
    assert rule.status_code in (400, 422) and "template" in rule.json()["fields"]


def test_patch_keeps_payload_ids_and_replaces_buttons(api):
    menu = button_template(titles=("Yes", "No"))
    yes, no = menu.buttons.all()
    response = patch(
        api,
        f"/api/templates/{menu.key}/",
        {"body": "Changed", "buttons": [{"payload_id": yes.payload_id, "title": "Sure"}, {"title": "Later"}]},
    )
    assert response.status_code == 200, response.json()
    buttons = response.json()["buttons"]
    assert buttons[0] == {"payload_id": yes.payload_id, "title": "Sure", "next_template": None, "next_state": ""}
    assert buttons[1]["title"] == "Later" and buttons[1]["payload_id"] not in (yes.payload_id, no.payload_id)
    assert not menu.buttons.filter(payload_id=no.payload_id).exists()
    assert (
        patch(
            api, f"/api/templates/{menu.key}/", {"buttons": [{"payload_id": "btn_foreign", "title": "x"}]}
        ).status_code
        == 422
    )
    assert api.put(f"/api/templates/{menu.key}/", {}, content_type="application/json").status_code == 405


def test_meta_templates_are_synced_not_created(api):
    response = post(api, "/api/templates/", {"name": "m", "kind": "meta_template"})
    assert response.status_code == 422 and "kind" in response.json()["fields"]


def test_flow_rules_crud_and_validation(api):
    answer = text_template()
    created = post(api, "/api/flow-rules/", {"name": "Prices", "pattern": "price, cost", "template": answer.key})
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    assert created.json()["match_type"] == "contains" and created.json()["builtin_intent"] == ""
    bad = patch(api, f"/api/flow-rules/{rule_id}/", {"match_type": "regex", "pattern": "(oops"})
    assert bad.status_code == 422 and "pattern" in bad.json()["fields"]
    ok = patch(api, f"/api/flow-rules/{rule_id}/", {"priority": 3, "builtin_intent": "opt_out"})
    assert ok.status_code == 200 and ok.json()["priority"] == 3 and ok.json()["builtin_intent"] == ""
    listed = api.get("/api/flow-rules/?builtin_intent=greeting").json()
    assert listed["count"] == 1 and listed["results"][0]["builtin_intent"] == "greeting"
    assert FlowRule.objects.get(pk=rule_id).priority == 3


def test_openapi_schema_lists_both_endpoints(alpha, db):
    body = tenant_client(alpha, login=True).get("/api/schema/").content.decode()
    assert "/api/templates/{key}/" in body and "/api/flow-rules/{id}/" in body
