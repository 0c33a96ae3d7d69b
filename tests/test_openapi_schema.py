"""The OpenAPI schema agrees with the API (issue 13 §0): enums, nullability, pages, errors, auth."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(alpha) -> dict:
    response = Client(HTTP_HOST=alpha.domain.domain).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_every_authentication_class_is_a_declared_scheme(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKeyBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "bzm_<key>",
        "description": schemes["apiKeyBearer"]["description"],
    }
    assert schemes["jwtAuth"]["bearerFormat"] == "JWT"
    assert schemes["ClientApiKey"]["name"] == "X-Api-Key" and schemes["ClientCode"]["name"] == "X-Client-Code"
    assert {"apiKeyBearer": []} in schema["paths"]["/api/appointments/"]["get"]["security"]


def test_every_operation_declares_the_shared_error_answers(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"400", "401", "403", "404", "429"} <= set(operation["responses"]), (method, path)
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"error", "message"}


def test_blank_read_only_choices_are_in_the_schema(schema):
    components = schema["components"]["schemas"]
    for component, field in (("FlowRule", "builtin_intent"), ("MessageTemplate", "meta_parameter_format")):
        refs = [r["$ref"].rsplit("/", 1)[-1] for r in components[component]["properties"][field]["oneOf"]]
        assert "" in [value for ref in refs for value in components[ref]["enum"]]


def test_ai_settings_updated_at_may_be_null(schema):
    assert schema["components"]["schemas"]["AISettingsOutput"]["properties"]["updated_at"]["nullable"] is True


def test_notifications_are_declared_as_the_page_they_are(schema, alpha):
    ref = schema["paths"]["/api/notifications/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]
    assert {"count", "results"} <= set(page["properties"])
    api = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")
    body = api.get("/api/notifications/").json()
    assert set(page["properties"]) >= set(body)
