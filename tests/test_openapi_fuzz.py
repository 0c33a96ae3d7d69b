"""Schemathesis against a tenant's OpenAPI schema (issue 13 §4): every operation, with every
declared way in, answers without a server error, with a documented status code, content
type and headers, and a body its schema describes.

The schema is the one drf-spectacular builds for the tenant URL conf (the first test checks
it is byte for byte what ``/api/schema/`` serves). Each (operation, scheme) pair is one test
inside its own rolled-back transaction on tenant Alpha, so what a case writes (a cancelled
appointment, a deleted workflow, a transitioned lead) is gone before the next pair; work
queued after commit (sends, fetches, Celery tasks) never leaves the transaction.

Requests go in-process through Django's WSGI handler (werkzeug's client, schemathesis'
``call(app=...)``), as a server would run them: CSRF is enforced for the session cookie (the
case sends the token), throttles and the tenant middleware run. Examples per pair:
``SCHEMATHESIS_MAX_EXAMPLES`` (``make test`` 8, ``make fuzz`` many more).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django_tenants.utils import schema_context
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.tenancy import ALPHA, tenant_client

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))
# `make test` draws the same examples every run (a rare find must not fail CI at random);
# `make fuzz`, which sets the count, draws new ones each time.
DERANDOMIZE = "SCHEMATHESIS_MAX_EXAMPLES" not in os.environ
# The coverage phase sends every boundary and wrong-type value the schema implies, and the
# methods an operation does not have (TRACE, ...): thousands of requests, so `make fuzz` only.
COVERAGE = os.environ.get("SCHEMATHESIS_COVERAGE", "") == "1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Any 32 letters are a valid CSRF secret; the cookie and the header must carry the same one.
CSRF_SECRET = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"


def _tenant_schema() -> dict:
    # Built without a request or a database, so the tests can be collected from it.
    generator = SchemaGenerator(urlconf="bizmitra.urls_tenant")
    return json.loads(OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True)))


SPEC = _tenant_schema()
schema = schemathesis.openapi.from_dict(
    SPEC,
    config=schemathesis.config.SchemathesisConfig.from_dict(
        {
            "generation": {
                "max-examples": MAX_EXAMPLES,
                # Our own credentials are sent with every case; generated ones would only
                # ever be refused (401 is covered by the shared error answers' tests).
                "with-security-parameters": False,
            },
            "phases": {"coverage": {"enabled": COVERAGE}},
        }
    ),
)


def _schemes(operation: dict) -> list[str]:
    """The declared ways into an operation, one name per security requirement ("" for none)."""
    return ["+".join(sorted(requirement)) for requirement in operation.get("security", [{}])] or [""]


def _operation_ids(scheme: str) -> list[str]:
    return [op["operationId"] for ops in SPEC["paths"].values() for op in ops.values() if scheme in _schemes(op)]


class _InProcessWSGI(WSGIHandler):
    """Django's WSGI handler without the connection closing at each request's start and end,
    as ``django.test.Client`` does: with ``CONN_MAX_AGE = 0`` it would close the test's
    connection, and with it the transaction the test rolls back. Disconnected at every call,
    because each ``django.test.Client`` request (the sign-in, the token) connects it again."""

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        return super().__call__(environ, start_response)


@pytest.fixture
def wsgi_app():
    yield _InProcessWSGI()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _credentials(scheme: str, alpha) -> tuple[dict, dict]:
    """Headers and cookies that authenticate as Alpha's owner (or its API key) by ``scheme``."""
    if scheme == "apiKeyBearer":
        return {"Authorization": f"Bearer {alpha.api_key.raw_key}"}, {}
    if scheme == "ClientApiKey+ClientCode":
        return {"X-Api-Key": alpha.api_key.raw_key, "X-Client-Code": ALPHA["client_code"]}, {}
    if scheme == "jwtAuth":
        response = Client(HTTP_HOST=alpha.domain.domain).post(
            "/api/auth/token/",
            {"username": ALPHA["owner_email"], "password": ALPHA["owner_password"]},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return {"Authorization": f"Bearer {response.json()['access']}"}, {}
    if scheme == "cookieAuth":
        client = tenant_client(alpha, login=True)
        session = client.cookies["sessionid"].value
        return {"X-CSRFToken": CSRF_SECRET}, {"sessionid": session, "csrftoken": CSRF_SECRET}
    assert scheme == "", scheme
    return {}, {}


def test_the_fuzzed_schema_is_the_served_one(alpha):
    response = Client(HTTP_HOST=alpha.domain.domain).get("/api/schema/", {"format": "json"})
    assert response.json() == SPEC


# What the fuzzing found, pinned one by one (each failed before its fix).


def test_an_api_url_that_matches_no_route_is_a_json_404(alpha):
    client = Client(HTTP_HOST=alpha.domain.domain)
    response = client.get("/api/documents/not-a-number/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json()["error"] == "not_found"
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")  # pages keep Django's page


def test_the_schema_answers_an_unknown_format_in_json(alpha):
    response = Client(HTTP_HOST=alpha.domain.domain).get("/api/schema/", {"format": "AAA"})
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_a_trigger_delay_no_date_can_hold_is_422(alpha):
    response = Client(HTTP_HOST=alpha.domain.domain).post(
        "/api/workflows/trigger/",
        {"trigger": "fuzz", "phone": "+919812345678", "delayMinutes": -6.9e16},
        content_type="application/json",
        headers={"X-Api-Key": alpha.api_key.raw_key, "X-Client-Code": ALPHA["client_code"]},
    )
    assert response.status_code == 422 and "delayMinutes" in response.json()["fields"]


def test_the_document_detail_is_declared_as_sent():
    components = SPEC["components"]["schemas"]
    detail = components["DocumentDetailOutput"]
    assert "fields" in detail["properties"] and "fields_" not in detail["properties"]
    assert "fields" in detail["required"]
    assert detail["properties"]["reviewed_by"]["nullable"] is True
    assert components["DocumentFieldOutput"]["properties"]["corrected_by"]["nullable"] is True
    page = SPEC["paths"]["/api/documents/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["$ref"].endswith("/PaginatedDocumentListOutputList")


@pytest.fixture(autouse=True)
def _graph_is_the_sandbox(settings, graph_sandbox):
    # Template sync calls Meta's Graph API in-process; nothing here may reach the real one.
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url


@pytest.fixture
def credentials(alpha):
    """Per test (so inside its transaction): one sign-in or token per scheme, reused by its examples."""
    made: dict[str, tuple[dict, dict]] = {}

    def get(scheme: str) -> tuple[dict, dict]:
        if scheme not in made:
            made[scheme] = _credentials(scheme, alpha)
        headers, cookies = made[scheme]
        return {**headers, "Host": alpha.domain.domain}, dict(cookies)

    return get


@pytest.fixture
def seeded(alpha) -> dict[str, object]:
    """One row behind every path parameter, in Alpha's schema (inside the test's transaction):
    the path prefix before ``{`` → the value to put there."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from bizmitra.storage import tenant_prefix
    from conversations.choices import Direction
    from conversations.models import Bot, KnowledgeFetchJob
    from documents.choices import DocumentKind, DocumentSource, DocumentStatus
    from documents.models import Document
    from leads.services.appointments import appointment_book
    from leads.services.leads import lead_capture
    from leads.services.notifications import notification_create
    from leads.tests.factories import make_contact, make_message, unique_mobile
    from templates.tests.factories import rule, text_template
    from workflows.tests.support import make_workflow

    with schema_context(alpha.tenant.schema_name):
        owner = get_user_model().objects.get(email=ALPHA["owner_email"])
        contact = make_contact(profile_name="Fuzz")
        make_message(contact=contact, body="hello")
        outbound = make_message(contact=contact, direction=Direction.OUTBOUND, body="hi there")
        lead = lead_capture(
            contact=contact, phone=unique_mobile(), fields={"name": "Fuzz"}, source="website", actor="test"
        )
        appointment = appointment_book(
            start_at=timezone.now() + timedelta(days=2), actor=owner, lead=lead, title="Visit"
        )
        [notification] = notification_create(
            recipients=[owner], kind="lead_qualified", title="Fuzz qualified", lead=lead
        )
        template = text_template(name="Fuzz answer")
        document = Document.objects.create(
            source=DocumentSource.UPLOAD,
            file=f"{tenant_prefix()}documents/fuzz/receipt.pdf",  # a key of this tenant; no bytes behind it
            filename="receipt.pdf",
            mime_type="application/pdf",
            size=1234,
            status=DocumentStatus.DONE,
            kind=DocumentKind.RECEIPT,
            contact=contact,
            text="Total 100.00",
            processed_at=timezone.now(),
        )
        bot = Bot.objects.filter(is_default=True).first() or Bot.objects.first()
        return {
            "/api/ai/knowledge/jobs/": str(KnowledgeFetchJob.objects.create(url="https://example.com/").pk),
            "/api/appointments/": appointment.pk,
            "/api/bots/": bot.pk if bot else 1,
            "/api/contacts/": contact.pk,
            "/api/conversations/": contact.conversation.pk,
            "/api/documents/": document.pk,
            "/api/flow-rules/": rule("fuzz", template).pk,
            "/api/leads/": lead.pk,
            "/api/messages/": outbound.pk,
            "/api/notifications/": notification.pk,
            "/api/templates/": template.key,
            "/api/workflows/": make_workflow().pk,
        }


def _aim_at_seeded_rows(case, seeded: dict[str, object]) -> None:
    # Random ids find nothing; half of the generated values (even numbers, strings of even
    # length) are replaced by a row that exists, so the answers with a body are checked too.
    value = seeded.get(case.path.split("{", 1)[0])
    for name, generated in (case.path_parameters or {}).items():
        if value is None or isinstance(generated, bool):
            continue
        if (isinstance(generated, int) and generated % 2 == 0) or (
            isinstance(generated, str) and len(generated) % 2 == 0
        ):
            case.path_parameters[name] = value


def _conformance_test(scheme: str):
    """One test per operation that declares ``scheme``, authenticated by it."""

    @schema.include(operation_id=_operation_ids(scheme)).parametrize()
    @hypothesis.settings(
        deadline=None,
        derandomize=DERANDOMIZE,
        # The transaction, credentials and WSGI app are meant to be shared by a test's examples.
        suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
    )
    def test(case, credentials, wsgi_app, seeded):
        _aim_at_seeded_rows(case, seeded)
        headers, cookies = credentials(scheme)
        response = case.call(app=wsgi_app, headers=headers, cookies=cookies)
        case.validate_response(response, checks=CHECKS, headers=headers)

    return test


test_with_api_key = _conformance_test("apiKeyBearer")
test_with_client_key_and_code = _conformance_test("ClientApiKey+ClientCode")
test_with_jwt = _conformance_test("jwtAuth")
test_with_session_cookie = _conformance_test("cookieAuth")
test_anonymous_operations = _conformance_test("")
