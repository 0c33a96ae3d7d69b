"""Self-serve sign-up (issue 11 §5): the service, the pages, email verification over real SMTP,
Sign in with Google against a local OIDC server, the rate limit and the errors."""

from __future__ import annotations

import secrets
import time
from email import message_from_bytes
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.core import mail, signing
from django.db import connection, transaction
from django.test import Client
from django_tenants.utils import schema_context, schema_exists

from bizmitra.errors import ValidationFailed
from tenants.models import Domain, GoogleSignInEmail, OwnerSignup, Tenant
from tenants.signup import services as signup_services
from tenants.signup.services import (
    handoff_redeem,
    handoff_token_issue,
    signup_email_verify,
    signup_template_ensure,
    tenant_signup,
)
from tenants.tests.google_oidc_server import GoogleOIDCServer
from tests.support import free_port

PASSWORD = "Sturdy-Mango-Ledger-42"


def _slug() -> str:
    return f"biz-{secrets.token_hex(4)}"


def _public_client() -> Client:
    # A fresh address per client: the rate limit counts per IP in Redis, across tests.
    return Client(HTTP_HOST="testserver", REMOTE_ADDR=f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7")


@pytest.fixture(scope="module")
def signup_template(django_db_setup, django_db_blocker, tenants_setup):
    """The template schema, committed once, so each test's clone is fast."""
    with django_db_blocker.unblock(), transaction.atomic():
        signup_template_ensure()
    connection.set_schema_to_public()


@pytest.fixture
def ready(db, signup_template):
    connection.set_schema_to_public()


def _signup(**overrides):
    args = {"business_name": "Asha's Bakery", "slug": _slug(), "email": f"{_slug()}@example.com", "password": PASSWORD}
    args.update(overrides)
    return tenant_signup(**args)


# --- the service ----------------------------------------------------------------------------


def test_signup_creates_schema_domain_owner_and_allow_list(ready, settings):
    settings.TENANT_BASE_DOMAIN = "bizmitra.test"
    slug = _slug()
    result = _signup(slug=slug, email="Asha@Example.com")
    tenant = Tenant.objects.get(schema_name=slug.replace("-", "_"))
    assert result.tenant == tenant and tenant.name == "Asha's Bakery" and tenant.client_code
    assert schema_exists(tenant.schema_name)
    assert Domain.objects.get(tenant=tenant).domain == f"{slug}.bizmitra.test"
    assert OwnerSignup.objects.get(tenant=tenant).email == "asha@example.com"
    assert list(GoogleSignInEmail.objects.filter(tenant=tenant).values_list("email", flat=True)) == ["asha@example.com"]
    with schema_context(tenant.schema_name):
        owner = get_user_model().objects.get(email="asha@example.com")
        assert owner.check_password(PASSWORD) and owner.is_superuser
        assert owner.groups.filter(name="Owners").exists()
        # Every tenant table is there (a cloned schema, migrated like the template).
        from django.db.migrations.recorder import MigrationRecorder

        assert MigrationRecorder(connection).applied_migrations()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM conversations_conversation")
            assert cursor.fetchone() == (0,)


def test_cloned_schema_is_separate_from_the_template_and_other_tenants(ready):
    first, second = _signup(), _signup()
    with schema_context(first.tenant.schema_name):
        get_user_model().objects.create_user(username="extra@x.test", email="extra@x.test", password="x")
    with schema_context(second.tenant.schema_name):
        assert not get_user_model().objects.filter(email="extra@x.test").exists()
    with schema_context(signup_services._template()):
        assert get_user_model().objects.count() == 0


def test_a_stale_template_is_migrated_before_it_is_copied(ready):
    """A migration the template lacks is applied to it (and so is in the copy), never faked."""
    from django.core.management import call_command

    template = signup_services._template()
    call_command("migrate_schemas", "leads", "0002", schema_name=template, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    result = _signup()
    with connection.cursor() as cursor:
        for schema in (template, result.tenant.schema_name):
            cursor.execute(
                f'SELECT count(*) FROM "{schema}".django_migrations WHERE app = %s AND name = %s',
                ["leads", "0003_analytics_engagement"],
            )
            assert cursor.fetchone() == (1,), schema
            cursor.execute(f"SELECT to_regclass('{schema}.leads_analyticsday') IS NOT NULL")
            assert cursor.fetchone() == (True,)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"slug": "admin"}, "slug", "reserved"),
        ({"slug": "www"}, "slug", "reserved"),
        ({"slug": "api"}, "slug", "reserved"),
        ({"slug": "public"}, "slug", "reserved"),
        ({"slug": "signup-template"}, "slug", "reserved"),
        ({"slug": "Bad Slug!"}, "slug", "lowercase"),
        ({"slug": "9lives"}, "slug", "starting with a letter"),
        ({"slug": "ab"}, "slug", "3–30"),
        ({"slug": "trailing-"}, "slug", "hyphen"),
        ({"slug": "alpha"}, "slug", "taken"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"password": "password123"}, "password", "too common"),
        ({"password": "short"}, "password", "too short"),
        ({"password": "48201937465512"}, "password", "entirely numeric"),
        ({"business_name": "  "}, "business_name", "name"),
    ],
)
def test_bad_signup_input_is_refused_with_the_reason_and_leaves_nothing(ready, overrides, field, words):
    before = (Tenant.objects.count(), Domain.objects.count(), OwnerSignup.objects.count())
    with pytest.raises(ValidationFailed) as excinfo:
        _signup(**overrides)
    assert field in excinfo.value.fields
    assert words in " ".join(excinfo.value.fields[field])
    assert (Tenant.objects.count(), Domain.objects.count(), OwnerSignup.objects.count()) == before


def test_an_email_signs_up_once(ready):
    email = f"{_slug()}@example.com"
    _signup(email=email)
    with pytest.raises(ValidationFailed) as excinfo:
        _signup(email=email.upper())
    assert "already exists" in excinfo.value.fields["email"][0]


def test_a_taken_address_is_refused(ready):
    slug = _slug()
    _signup(slug=slug)
    with pytest.raises(ValidationFailed) as excinfo:
        _signup(slug=slug)
    assert "taken" in excinfo.value.fields["slug"][0]


def test_handoff_token_signs_in_once_and_only_on_its_tenant(ready, alpha):
    result = _signup()
    token = handoff_token_issue(tenant=result.tenant, user_id=result.owner_id)
    assert handoff_redeem(token=token, schema_name="alpha") is None
    assert handoff_redeem(token=token, schema_name=result.tenant.schema_name) == result.owner_id
    assert handoff_redeem(token=token, schema_name=result.tenant.schema_name) is None
    assert handoff_redeem(token=token + "x", schema_name=result.tenant.schema_name) is None


def test_verification_link_verifies_and_refuses_tampered_or_expired(ready, settings):
    result = _signup()
    token = signing.dumps(
        {"id": result.owner_signup.pk, "email": result.owner_signup.email}, salt="bizmitra.signup.verify"
    )
    with pytest.raises(ValidationFailed, match="not valid"):
        signup_email_verify(token=token[:-2] + "zz")
    settings.SIGNUP_VERIFY_MAX_AGE_SECONDS = -1
    with pytest.raises(ValidationFailed, match="expired"):
        signup_email_verify(token=token)
    settings.SIGNUP_VERIFY_MAX_AGE_SECONDS = 3600
    assert signup_email_verify(token=token).email_verified_at is not None
    assert signup_email_verify(token=token).email_verified_at is not None  # idempotent


# --- the pages ------------------------------------------------------------------------------


def _follow_handoff(response) -> tuple[Client, str]:
    """Follow the sign-up's redirect onto the tenant host; the tenant client and the page."""
    location = response["Location"] if response.status_code == 302 else response["HX-Redirect"]
    parts = urlsplit(location)
    assert parts.path == "/welcome/signin/"
    client = Client(HTTP_HOST=parts.hostname)
    landed = client.get(f"{parts.path}?{parts.query}")
    assert landed.status_code == 302 and landed["Location"] == "/welcome/"
    return client, parts.hostname


def test_signup_page_creates_a_tenant_and_lands_on_its_checklist(ready, settings):
    settings.TENANT_BASE_DOMAIN = "bizmitra.test"
    page = _public_client().get("/signup/")
    assert page.status_code == 200 and b"Create your workspace" in page.content
    client = _public_client()
    slug = _slug()
    response = client.post(
        "/signup/",
        {"business_name": "Asha's Bakery", "slug": slug, "email": f"{slug}@example.com", "password": PASSWORD},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].startswith(f"http://{slug}.bizmitra.test/welcome/signin/?token=")
    tenant_client, host = _follow_handoff(response)
    assert host == f"{slug}.bizmitra.test"
    welcome = tenant_client.get("/welcome/")
    assert welcome.status_code == 200
    body = welcome.content.decode()
    for text in ("Connect WhatsApp", "Build a menu flow", "Try the simulator", "Invite a teammate", "Please confirm"):
        assert text in body
    assert 'href="/settings/numbers/"' in body and 'href="/settings/team/"' in body and 'href="/simulator/"' in body
    assert "1 of 5 done" not in body and "0 of 5 done" in body
    inbox = tenant_client.get("/")
    assert inbox.status_code == 200
    # The verification email went through the configured backend (the test outbox here).
    sent = [m for m in mail.outbox if f"{slug}@example.com" in m.to]
    assert len(sent) == 1 and f"http://{slug}.bizmitra.test/signup/verify/" in sent[0].body


def test_signup_over_htmx_answers_hx_redirect(ready):
    slug = _slug()
    response = _public_client().post(
        "/signup/",
        {"business_name": "Htmx Cafe", "slug": slug, "email": f"{slug}@example.com", "password": PASSWORD},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    assert "/welcome/signin/?token=" in response["HX-Redirect"]


def test_signup_errors_are_shown_next_to_their_fields(ready):
    response = _public_client().post(
        "/signup/",
        {"business_name": "Admin Co", "slug": "admin", "email": "nope", "password": "12345678"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="err_slug"' in body and "reserved" in body
    assert 'id="err_email"' in body and "valid email" in body
    assert 'id="err_password"' in body and "too common" in body
    assert body.count('aria-invalid="true"') == 3
    assert "<html" not in body  # the fragment, not the page


def test_derived_address_that_is_taken_is_shown_to_change(ready):
    response = _public_client().post(
        "/signup/", {"business_name": "Alpha", "slug": "", "email": f"{_slug()}@example.com", "password": PASSWORD}
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert 'value="alpha"' in body and "already taken" in body


def test_signup_is_rate_limited_per_ip(ready, settings):
    settings.SIGNUP_RATE_LIMIT = "3/h"
    client = _public_client()
    statuses = [
        client.post("/signup/", {"business_name": "", "slug": "", "email": "x", "password": ""}).status_code
        for _ in range(4)
    ]
    assert statuses == [422, 422, 422, 429]
    limited = client.post("/signup/", {"business_name": "", "slug": "", "email": "x", "password": ""})
    assert limited.status_code == 429 and b"Too many sign-up attempts" in limited.content
    assert _public_client().post("/signup/", {"business_name": "", "email": "x"}).status_code == 422  # another IP


def test_checklist_needs_a_signed_in_user(ready):
    result = _signup()
    response = Client(HTTP_HOST=result.domain.domain).get("/welcome/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_used_handoff_link_sends_to_the_login_page(ready):
    result = _signup()
    token = handoff_token_issue(tenant=result.tenant, user_id=result.owner_id)
    client = Client(HTTP_HOST=result.domain.domain)
    assert client.get(f"/welcome/signin/?token={token}")["Location"] == "/welcome/"
    again = Client(HTTP_HOST=result.domain.domain).get(f"/welcome/signin/?token={token}")
    assert again["Location"] == "/login/"


def test_verify_link_page_and_banner_goes_away(ready):
    result = _signup()
    token = signing.dumps(
        {"id": result.owner_signup.pk, "email": result.owner_signup.email}, salt="bizmitra.signup.verify"
    )
    client = Client(HTTP_HOST=result.domain.domain)
    client.get(f"/welcome/signin/?token={handoff_token_issue(tenant=result.tenant, user_id=result.owner_id)}")
    assert b"Please confirm" in client.get("/welcome/").content
    page = client.get(f"/signup/verify/{token}/")
    assert page.status_code == 200 and b"Email confirmed" in page.content
    assert b"Please confirm" not in client.get("/welcome/").content
    bad = client.get("/signup/verify/garbage/")
    assert bad.status_code == 400 and b"not valid" in bad.content


def test_checklist_items_turn_done(ready, graph_sandbox):
    from tenants.models import PhoneNumber

    result = _signup()
    client = Client(HTTP_HOST=result.domain.domain)
    client.get(f"/welcome/signin/?token={handoff_token_issue(tenant=result.tenant, user_id=result.owner_id)}")
    PhoneNumber.objects.create(
        tenant=result.tenant, phone_number_id=str(700000 + secrets.randbelow(10**6)), access_token="t"
    )
    with schema_context(result.tenant.schema_name):
        get_user_model().objects.create_user(username="agent@x.test", email="agent@x.test", password="x")
    body = client.get("/welcome/").content.decode()
    assert "2 of 5 done" in body
    assert body.count("checklist__item--done") == 2


# --- email verification over real SMTP -------------------------------------------------------


class _Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append({"to": envelope.rcpt_tos, "message": message_from_bytes(envelope.content)})
        return "250 OK"


def test_verification_email_goes_through_a_real_smtp_server(ready, settings):
    sink, port = _Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        slug = _slug()
        response = _public_client().post(
            "/signup/",
            {"business_name": "Smtp Salon", "slug": slug, "email": f"{slug}@example.com", "password": PASSWORD},
        )
        assert response.status_code == 302
        deadline = time.monotonic() + 10
        while not sink.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m["to"] for m in sink.messages] == [[f"{slug}@example.com"]]
        text = sink.messages[0]["message"].get_payload(decode=True).decode()
        link = next(word for word in text.split() if "/signup/verify/" in word)
        parts = urlsplit(link)
        verified = Client(HTTP_HOST=parts.hostname).get(parts.path)
        assert verified.status_code == 200 and b"Email confirmed" in verified.content
        assert OwnerSignup.objects.get(email=f"{slug}@example.com").email_verified_at is not None
    finally:
        controller.stop()


def test_a_failing_smtp_server_does_not_fail_the_signup(ready, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    slug = _slug()
    response = _public_client().post(
        "/signup/", {"business_name": "No Mail", "slug": slug, "email": f"{slug}@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    tenant_client, _ = _follow_handoff(response)
    assert b"Resend the link" in tenant_client.get("/welcome/").content


# --- Sign in with Google --------------------------------------------------------------------


@pytest.fixture
def google(settings):
    server = GoogleOIDCServer().start()
    for name, value in server.settings_overrides().items():
        setattr(settings, name, value)
    yield server
    server.stop()


def _google_round_trip(client: Client):
    """Start at /auth/google/, let the local Google answer, come back to the callback."""
    start = client.get("/auth/google/")
    assert start.status_code == 302
    consent = httpx.get(start["Location"], follow_redirects=False)
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    assert back.path == "/auth/google/callback/"
    return client.get(f"{back.path}?{back.query}"), parse_qs(urlsplit(start["Location"]).query)


def test_google_sign_in_for_an_allowed_email_lands_signed_in_on_the_tenant(ready, google):
    result = _signup()
    google.sign_in_as(result.owner_signup.email)
    client = _public_client()
    response, authorize = _google_round_trip(client)
    assert authorize["scope"] == ["openid email profile"] and authorize["nonce"] and authorize["state"]
    assert response.status_code == 302, response.content.decode()[:1000]
    tenant_client = Client(HTTP_HOST=result.domain.domain)
    parts = urlsplit(response["Location"])
    assert parts.hostname == result.domain.domain
    assert tenant_client.get(f"{parts.path}?{parts.query}")["Location"] == "/"
    assert tenant_client.get("/welcome/").status_code == 200
    exchange = google.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code" and exchange["client_secret"] == google.client_secret
    assert exchange["redirect_uri"] == "http://testserver/auth/google/callback/"


def test_google_sign_in_adds_an_allowed_teammate_as_agent(ready, google):
    result = _signup()
    GoogleSignInEmail.objects.create(tenant=result.tenant, email="teammate@example.com")
    google.sign_in_as("teammate@example.com")
    response, _ = _google_round_trip(_public_client())
    assert response.status_code == 302
    with schema_context(result.tenant.schema_name):
        agent = get_user_model().objects.get(email="teammate@example.com")
        assert agent.groups.filter(name="Agents").exists() and not agent.is_superuser


def test_google_sign_in_refuses_an_email_not_on_any_allow_list(ready, google):
    _signup()
    google.sign_in_as("stranger@example.com")
    response, _ = _google_round_trip(_public_client())
    assert response.status_code == 400
    assert b"stranger@example.com is not allowed" in response.content


def test_google_sign_in_with_two_workspaces_asks_which(ready, google):
    email = f"{_slug()}@example.com"
    first = _signup(email=email, business_name="First Shop")
    second = _signup(business_name="Second Shop")
    GoogleSignInEmail.objects.create(tenant=second.tenant, email=email)
    google.sign_in_as(email)
    client = _public_client()
    response, _ = _google_round_trip(client)
    assert response.status_code == 200 and b"First Shop" in response.content and b"Second Shop" in response.content
    chosen = client.post("/auth/google/choose/", {"tenant": second.tenant.schema_name})
    assert urlsplit(chosen["Location"]).hostname == second.domain.domain
    assert first.tenant != second.tenant


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ({"claim_overrides": {"aud": "someone-else"}}, b"did not verify"),
        ({"claim_overrides": {"iss": "https://evil.example"}}, b"not issued by Google"),
        ({"claim_overrides": {"nonce": "replayed"}}, b"another sign-in"),
        ({"claim_overrides": {"exp": 1}}, b"did not verify"),
        ({"email_verified": False}, b"not verified this account"),
        ({"forged": True}, b"did not verify"),
        ({"deny": True}, b"cancelled"),
    ],
)
def test_google_sign_in_refuses_bad_tokens(ready, google, tamper, message):
    from cryptography.hazmat.primitives.asymmetric import rsa

    result = _signup()
    google.sign_in_as(result.owner_signup.email, verified=tamper.get("email_verified", True))
    google.claim_overrides = tamper.get("claim_overrides", {})
    google.deny = tamper.get("deny", False)
    if tamper.get("forged"):
        google.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response, _ = _google_round_trip(_public_client())
    assert response.status_code == 400
    assert message in response.content


def test_google_callback_without_its_state_is_refused(ready, google):
    response = _public_client().get("/auth/google/callback/?code=x&state=y")
    assert response.status_code == 400 and b"did not start here" in response.content


def test_owner_edits_the_google_allow_list(ready):
    result = _signup()
    client = Client(HTTP_HOST=result.domain.domain)
    client.get(f"/welcome/signin/?token={handoff_token_issue(tenant=result.tenant, user_id=result.owner_id)}")
    assert client.post("/welcome/google/", {"email": "New@Example.com"}).status_code == 302
    assert GoogleSignInEmail.objects.filter(tenant=result.tenant, email="new@example.com").exists()
    bad = client.post("/welcome/google/", {"email": "nope"})
    assert bad.status_code == 422 and b'id="err_google_email"' in bad.content
    client.post("/welcome/google/", {"remove": "new@example.com"})
    assert not GoogleSignInEmail.objects.filter(tenant=result.tenant, email="new@example.com").exists()


def test_an_agent_cannot_edit_the_google_allow_list(ready, google):
    result = _signup()
    GoogleSignInEmail.objects.create(tenant=result.tenant, email="agent@example.com")
    google.sign_in_as("agent@example.com")
    response, _ = _google_round_trip(_public_client())
    client = Client(HTTP_HOST=result.domain.domain)
    parts = urlsplit(response["Location"])
    client.get(f"{parts.path}?{parts.query}")
    assert client.post("/welcome/google/", {"email": "x@example.com"}).status_code == 403
    assert not GoogleSignInEmail.objects.filter(tenant=result.tenant, email="x@example.com").exists()
