"""A trigger nobody configured: still 202, but ``warnings`` says so, the log says so, the owners see it."""

import logging

import pytest
from django_tenants.utils import schema_context

from leads.models import Notification
from tests.tenancy import tenant_client
from workflows.services import workflow_trigger_fire
from workflows.tests.support import any_host_client, client_headers, make_workflow, random_phone, unique_trigger

pytestmark = pytest.mark.django_db


def post_trigger(onboarding, body: dict):
    return any_host_client().post(
        "/api/workflows/trigger", body, content_type="application/json", **client_headers(onboarding)
    )


def notices(trigger: str) -> list[Notification]:
    with schema_context("alpha"):
        return list(Notification.objects.filter(kind="workflow_failed", title__contains=f'"{trigger}"'))


def test_a_trigger_without_active_workflow_warns_logs_and_notifies_the_owner_once(alpha, caplog):
    trigger = unique_trigger("nobody")
    with caplog.at_level(logging.WARNING, logger="workflows.services.triggers"):
        response = post_trigger(alpha, {"trigger": trigger, "phone": random_phone()})
    assert response.status_code == 202
    body = response.json()
    assert body["jobIds"] == [] and body["warnings"] == [f'no active workflow for trigger "{trigger}"']
    logged = [record.getMessage() for record in caplog.records]
    assert any(trigger in line and "no active workflow" in line for line in logged)

    [notice] = notices(trigger)
    with schema_context("alpha"):
        assert notice.recipient.email == alpha.owner_email
    assert trigger in notice.body

    # A client site firing it on every booking does not pile up notices: one until it is read.
    assert post_trigger(alpha, {"trigger": trigger, "phone": random_phone()}).json()["warnings"]
    assert len(notices(trigger)) == 1


def test_an_inactive_workflow_counts_as_none(alpha):
    trigger = unique_trigger("off")
    with schema_context("alpha"):
        make_workflow(trigger=trigger, is_active=False)
    body = post_trigger(alpha, {"trigger": trigger, "phone": random_phone()}).json()
    assert body["warnings"] == [f'no active workflow for trigger "{trigger}"']


def test_a_configured_trigger_has_no_warning_and_no_notice(alpha):
    trigger = unique_trigger("set")
    with schema_context("alpha"):
        make_workflow(trigger=trigger)
    response = post_trigger(alpha, {"trigger": trigger, "phone": random_phone()})
    assert response.status_code == 202
    assert len(response.json()["jobIds"]) == 1 and response.json()["warnings"] == []
    assert notices(trigger) == []


def test_a_repeated_idempotency_key_answers_with_the_same_warning(alpha):
    trigger = unique_trigger("again")
    body = {"trigger": trigger, "phone": random_phone(), "idempotencyKey": f"k-{trigger}"}
    first = post_trigger(alpha, body)
    repeat = post_trigger(alpha, body)
    assert (first.status_code, repeat.status_code) == (202, 200)
    assert repeat.json()["duplicate"] is True and repeat.json()["warnings"] == first.json()["warnings"] != []


def test_our_own_services_firing_triggers_do_not_notify(alpha):
    # leads fire lead_captured for every lead, whether or not the tenant set up a workflow for it.
    trigger = unique_trigger("internal")
    with schema_context("alpha"):
        result = workflow_trigger_fire(trigger=trigger, phone=random_phone())
    assert result.response["warnings"] == [f'no active workflow for trigger "{trigger}"']
    assert notices(trigger) == []


def test_the_openapi_schema_documents_the_warnings(alpha):
    schema = tenant_client(alpha, login=True).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/workflows/trigger/"]["post"]
    for status in ("200", "202"):
        ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/TriggerResponse"
    warnings = schema["components"]["schemas"]["TriggerResponse"]["properties"]["warnings"]
    assert warnings["type"] == "array" and "no active workflow" in warnings["description"]
    assert {"ClientApiKey": [], "ClientCode": []} in operation["security"]
