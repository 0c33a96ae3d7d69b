"""Abuse protections (issue 13 §3): login lockout, API rate limits, security headers and CORS,
the configuration audit log, and `check --deploy` with production settings."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from security.throttles import ApiKeyRateThrottle, UserRateThrottle, WorkflowTriggerRateThrottle, _key_ident
from tenants.services import owner_create
from tests.support import PYTHON, ROOT, subprocess_env
from tests.tenancy import ALPHA, tenant_client

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture
def lockout_limits(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


LOCKOUT = pytest.mark.usefixtures("lockout_limits")


def _address() -> str:
    """A client address of this test alone (lockouts are per address too)."""
    return f"198.51.100.{secrets.randbelow(250) + 1}"


def _cool_off_passes(schema: str) -> None:
    """What 16 minutes of waiting does to axes' rows: the last failure is older than the cool-off."""
    with schema_context(schema):
        AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))


# --- login lockout ------------------------------------------------------------------------------


@LOCKOUT
class TestDashboardLoginLockout:
    def test_right_password_refused_after_the_limit_and_accepted_after_the_cool_off(self, alpha):
        client = Client(HTTP_HOST=alpha.domain.domain, REMOTE_ADDR=_address())
        wrong = {"username": ALPHA["owner_email"], "password": "not-the-password"}
        for _ in range(LIMIT - 1):
            assert client.post("/login/", wrong).status_code == 200  # the form again, with its error
        locked = client.post("/login/", wrong)
        assert locked.status_code == 429
        assert "Too many failed sign-in attempts" in locked.content.decode()
        assert int(locked["Retry-After"]) == 15 * 60

        right = {"username": ALPHA["owner_email"], "password": ALPHA["owner_password"]}
        refused = client.post("/login/", right)
        assert refused.status_code == 429, "the right password must not sign in while locked"
        assert "_auth_user_id" not in client.session

        _cool_off_passes(alpha.tenant.schema_name)
        assert client.post("/login/", right).status_code == 302
        assert "_auth_user_id" in client.session

    def test_an_account_is_locked_from_every_address(self, alpha):
        wrong = {"username": ALPHA["owner_email"], "password": "nope"}
        for _ in range(LIMIT):
            Client(HTTP_HOST=alpha.domain.domain, REMOTE_ADDR=_address()).post("/login/", wrong)
        other = Client(HTTP_HOST=alpha.domain.domain, REMOTE_ADDR="192.0.2.77")
        response = other.post("/login/", {"username": ALPHA["owner_email"], "password": ALPHA["owner_password"]})
        assert response.status_code == 429

    def test_an_address_guessing_many_accounts_is_locked(self, alpha):
        address = _address()
        for n in range(LIMIT):
            Client(HTTP_HOST=alpha.domain.domain, REMOTE_ADDR=address).post(
                "/login/", {"username": f"guess{n}@alpha.test", "password": "nope"}
            )
        client = Client(HTTP_HOST=alpha.domain.domain, REMOTE_ADDR=address)
        response = client.post("/login/", {"username": ALPHA["owner_email"], "password": ALPHA["owner_password"]})
        assert response.status_code == 429

    def test_a_lockout_in_one_tenant_does_not_lock_the_same_name_in_another(self, alpha, beta):
        address = _address()
        for _ in range(LIMIT):
            Client(HTTP_HOST=alpha.domain.domain, REMOTE_ADDR=address).post(
                "/login/", {"username": "owner@beta.test", "password": "nope"}
            )
        client = Client(HTTP_HOST=beta.domain.domain, REMOTE_ADDR=address)
        response = client.post("/login/", {"username": "owner@beta.test", "password": "beta-password"})
        assert response.status_code == 302

    def test_owner_sees_the_lockout_and_unlocks_it(self, alpha):
        owner = tenant_client(alpha, login=True)
        attacker = Client(HTTP_HOST=alpha.domain.domain, REMOTE_ADDR="203.0.113.9")
        for _ in range(LIMIT):
            attacker.post("/login/", {"username": ALPHA["owner_email"], "password": "nope"})

        page = owner.get("/settings/security/")
        assert page.status_code == 200
        html = page.content.decode()
        assert "Paused now" in html and "203.0.113.9" in html and ALPHA["owner_email"] in html
        assert "Recent failed sign-ins" in html
        with schema_context(alpha.tenant.schema_name):
            attempt_id = AccessAttempt.objects.get(ip_address="203.0.113.9").pk
        assert owner.post(f"/settings/security/lockouts/{attempt_id}/unlock/").status_code == 302
        again = attacker.post("/login/", {"username": ALPHA["owner_email"], "password": ALPHA["owner_password"]})
        assert again.status_code == 302

    def test_agents_cannot_open_the_security_pages(self, alpha):
        with schema_context(alpha.tenant.schema_name):
            owner_create(email="agent-sec@alpha.test", password="agent-password", is_owner=False)
        agent = Client(HTTP_HOST=alpha.domain.domain)
        signed_in = agent.post("/login/", {"username": "agent-sec@alpha.test", "password": "agent-password"})
        assert signed_in.status_code == 302
        assert agent.get("/settings/security/").status_code == 403
        assert agent.get("/settings/audit/").status_code == 403


@LOCKOUT
@pytest.mark.parametrize("host", ["alpha.test", "testserver"], ids=["tenant-admin", "platform-admin"])
def test_admin_login_locks_after_the_limit(host, tenants_setup):
    if host == "testserver":
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_superuser("platform-staff", "staff@platform.test", "staff-password")
        username, password = "platform-staff", "staff-password"
    else:
        username, password = ALPHA["owner_email"], ALPHA["owner_password"]
    client = Client(HTTP_HOST=host, REMOTE_ADDR=_address())
    for _ in range(LIMIT):
        client.post("/admin/login/", {"username": username, "password": "wrong-password", "next": "/admin/"})
    response = client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()


@LOCKOUT
class TestTokenEndpointLockout:
    def test_json_429_after_the_limit_then_a_token_after_the_cool_off(self, alpha):
        client = Client(HTTP_HOST=alpha.domain.domain, REMOTE_ADDR=_address())
        wrong = {"username": ALPHA["owner_email"], "password": "nope"}
        statuses = [
            client.post("/api/auth/token/", wrong, content_type="application/json").status_code for _ in range(LIMIT)
        ]
        assert statuses == [401] * (LIMIT - 1) + [429]

        right = {"username": ALPHA["owner_email"], "password": ALPHA["owner_password"]}
        refused = client.post("/api/auth/token/", right, content_type="application/json")
        assert refused.status_code == 429
        body = refused.json()
        assert body["error"] == "locked_out" and body["retryAfter"] == 900 and "access" not in body
        assert refused["Retry-After"] == "900"

        _cool_off_passes(alpha.tenant.schema_name)
        granted = client.post("/api/auth/token/", right, content_type="application/json")
        assert granted.status_code == 200 and "access" in granted.json()


# --- API rate limits ----------------------------------------------------------------------------


def _forget(schema: str, *keys: str) -> None:
    """Throttle windows live in Redis, outside the test's transaction: start each test empty."""
    with schema_context(schema):
        cache.delete_many(list(keys))


class TestApiRateLimits:
    def test_api_key_gets_429_with_retry_after_after_its_budget(self, alpha):
        raw = alpha.api_key.raw_key
        _forget(alpha.tenant.schema_name, ApiKeyRateThrottle().cache_key_for(_key_ident(raw)))
        client = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {raw}")
        rates = {"user": "1000/minute", "api_key": "5/minute", "workflow_trigger": "1000/minute", "anon": "1000/minute"}
        with override_settings(API_THROTTLE_RATES=rates):
            assert [client.get("/api/me/").status_code for _ in range(5)] == [200] * 5
            refused = client.get("/api/me/")
        assert refused.status_code == 429
        assert 1 <= int(refused["Retry-After"]) <= 60
        assert refused.json()["error"] == "throttled"

    def test_workflow_trigger_api_has_its_own_budget(self, alpha):
        raw = alpha.api_key.raw_key
        _forget(alpha.tenant.schema_name, ApiKeyRateThrottle().cache_key_for(_key_ident(raw)))
        _forget("public", WorkflowTriggerRateThrottle().cache_key_for(_key_ident(raw)))
        rates = {"user": "1000/minute", "api_key": "3/minute", "workflow_trigger": "6/minute", "anon": "1000/minute"}
        tenant_api = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {raw}")
        site = Client(HTTP_HOST="shop.example", HTTP_X_API_KEY=raw, HTTP_X_CLIENT_CODE=alpha.tenant.client_code)
        body = {"trigger": "security_test_no_rule", "phone": "+919812345678"}
        with override_settings(API_THROTTLE_RATES=rates):
            for _ in range(3):
                assert tenant_api.get("/api/me/").status_code == 200
            assert tenant_api.get("/api/me/").status_code == 429  # the key's API budget is spent
            triggered = [site.post("/api/workflows/trigger", body, content_type="application/json") for _ in range(6)]
            assert [r.status_code for r in triggered] == [202] * 6, triggered[0].content
            refused = site.post("/api/workflows/trigger", body, content_type="application/json")
        assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1

    def test_signed_in_user_is_limited_per_user(self, alpha):
        client = Client(HTTP_HOST=alpha.domain.domain)
        token = client.post(
            "/api/auth/token/",
            {"username": ALPHA["owner_email"], "password": ALPHA["owner_password"]},
            content_type="application/json",
        ).json()["access"]
        with schema_context(alpha.tenant.schema_name):
            from django.contrib.auth import get_user_model

            owner_pk = get_user_model().objects.get(username=ALPHA["owner_email"]).pk
        _forget(alpha.tenant.schema_name, UserRateThrottle().cache_key_for(str(owner_pk)))
        api = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {token}")
        rates = {"user": "4/minute", "api_key": "1000/minute", "workflow_trigger": "1000/minute", "anon": "1000/minute"}
        with override_settings(API_THROTTLE_RATES=rates):
            assert [api.get("/api/me/").status_code for _ in range(4)] == [200] * 4
            refused = api.get("/api/me/")
        assert refused.status_code == 429 and "Retry-After" in refused


# --- headers and CORS --------------------------------------------------------------------------


class TestSecurityHeaders:
    def test_pages_carry_csp_and_the_other_headers(self, alpha):
        response = Client(HTTP_HOST=alpha.domain.domain).get("/login/")
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"

    def test_dashboard_csp_allows_its_websocket_and_htmx_style_nonce(self, alpha):
        response = tenant_client(alpha, login=True).get("/")
        assert response.status_code == 200
        csp = response["Content-Security-Policy"]
        connect = re.search(r"connect-src ([^;]*)", csp).group(1)
        assert "'self'" in connect and "ws://alpha.test:8001" in connect
        nonce = re.search(r"style-src 'self' 'nonce-([^']+)'", csp).group(1)
        assert f'"inlineStyleNonce": "{nonce}"' in response.content.decode()

    def test_cors_is_off_by_default_and_only_for_listed_origins(self):
        preflight = {
            "HTTP_ORIGIN": "https://shop.example",
            "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
            "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type,x-api-key,x-client-code",
        }
        client = Client(HTTP_HOST="shop.example")
        assert "Access-Control-Allow-Origin" not in client.options("/api/workflows/trigger", **preflight)
        with override_settings(CORS_ALLOWED_ORIGINS=["https://shop.example"]):
            allowed = client.options("/api/workflows/trigger", **preflight)
            assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
            other = client.options("/api/workflows/trigger", **{**preflight, "HTTP_ORIGIN": "https://evil.example"})
            assert "Access-Control-Allow-Origin" not in other
            # Only the client-website API is cross-origin; the dashboard's API is not.
            assert "Access-Control-Allow-Origin" not in client.options("/api/me/", **preflight)


# --- audit log ---------------------------------------------------------------------------------

RULE = {"name": "Audit me", "trigger": "audit_test", "channel": "whatsapp", "template_name": "t", "language": "en"}


class TestAuditLog:
    def _entries(self, schema: str, model: str):
        with schema_context(schema):
            return list(LogEntry.objects.filter(content_type__model=model).order_by("pk"))

    def test_api_key_and_owner_changes_are_recorded_with_who_and_before_after(self, alpha):
        by_key = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {alpha.api_key.raw_key}")
        created = by_key.post("/api/workflows/", RULE, content_type="application/json")
        assert created.status_code == 201, created.content
        pk = created.json()["id"]
        owner = tenant_client(alpha, login=True)
        changed = owner.patch(f"/api/workflows/{pk}/", {"name": "Audited"}, content_type="application/json")
        assert changed.status_code == 200, changed.content

        create_entry, update_entry = self._entries(alpha.tenant.schema_name, "communicationworkflow")[-2:]
        assert create_entry.action == LogEntry.Action.CREATE
        assert create_entry.actor_id is None and create_entry.additional_data == {"actor": "api-key:ALPHA"}
        assert update_entry.action == LogEntry.Action.UPDATE
        assert update_entry.actor.username == ALPHA["owner_email"]
        assert update_entry.changes_dict["name"] == ["Audit me", "Audited"]

        page = owner.get("/settings/audit/")
        html = page.content.decode()
        assert page.status_code == 200
        assert "api-key:ALPHA" in html and ALPHA["owner_email"] in html and "Audited" in html

    def test_admin_changes_record_the_staff_member(self, alpha):
        from django.forms.models import model_to_dict

        from workflows.models import CommunicationWorkflow

        owner = tenant_client(alpha, login=True)
        with schema_context(alpha.tenant.schema_name):
            workflow = CommunicationWorkflow.objects.create(**RULE)
            form = {k: ("" if v is None else v) for k, v in model_to_dict(workflow).items()}
        form["parameter_mapping"] = "{}"
        form["name"] = "Changed in the admin"
        response = owner.post(f"/admin/workflows/communicationworkflow/{workflow.pk}/change/", form)
        assert response.status_code == 302, response.content.decode()[-3000:]
        entry = self._entries(alpha.tenant.schema_name, "communicationworkflow")[-1]
        assert entry.actor.username == ALPHA["owner_email"]
        assert entry.changes_dict["name"] == ["Audit me", "Changed in the admin"]

    def test_secrets_are_recorded_as_changed_never_by_value(self, alpha):
        from workflows.models import TenantEmailSettings

        with schema_context(alpha.tenant.schema_name):
            settings_row = TenantEmailSettings.objects.create(
                host="smtp.example", from_email="a@alpha.test", password="first-secret"
            )
            settings_row.password = "second-secret"
            settings_row.save()
            entries = list(LogEntry.objects.get_for_object(settings_row).order_by("pk"))
        stored = " ".join(str(e.changes) for e in entries)
        assert "secret" not in stored.replace("secret'", "")  # neither value, not even half of it
        assert entries[-1].changes_dict["password"] == ["••••••••", "••••••••"]

    def test_entries_cannot_be_edited_from_the_admin(self, alpha):
        owner = tenant_client(alpha, login=True)
        with schema_context(alpha.tenant.schema_name):
            from conversations.models import Label

            Label.objects.create(name="Audit-admin")
            entry = LogEntry.objects.latest("pk")
        change = owner.post(f"/admin/auditlog/logentry/{entry.pk}/change/", {"object_repr": "forged"})
        assert change.status_code in (403, 302)
        delete = owner.post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"})
        assert delete.status_code == 403
        with schema_context(alpha.tenant.schema_name):
            assert LogEntry.objects.get(pk=entry.pk).object_repr == "Audit-admin"


# --- check --deploy ----------------------------------------------------------------------------


def _production_env() -> dict[str, str]:
    env = subprocess_env()
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # DJANGO_ALLOW_ASYNC_UNSAFE: set in this process by the browser tests' live servers.
    for name in (
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "TRUST_X_FORWARDED_PROTO",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    ):
        env.pop(name, None)
    env.update(
        BIZMITRA_ENV="production",
        DJANGO_SETTINGS_MODULE="bizmitra.settings.base",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="app.bizmitra.example,.bizmitra.example",
        FIELD_ENCRYPTION_KEYS=os.environ.get("FIELD_ENCRYPTION_KEYS", "ZGV2LW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXktMzI="),
        META_APP_SECRET="prod-app-secret",
        WHATSAPP_VERIFY_TOKEN="prod-verify-token",
    )
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bizmitra")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    return env


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    issues = [line for line in (result.stdout + result.stderr).splitlines() if re.match(r"^\?: \(|^\S+: \(", line)]
    # drf-spectacular's schema warnings count too: the schema must describe the API cleanly.
    assert "System check identified" in result.stdout + result.stderr, result.stderr[-2000:]
    assert issues == [], "\n".join(issues)


PROBE = """
import django
django.setup()
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory

mw = SecurityMiddleware(lambda request: HttpResponse("ok"))
factory = RequestFactory()
print("healthz", mw(factory.get("/healthz", HTTP_HOST="app.bizmitra.example")).status_code)
print("page", mw(factory.get("/inbox/", HTTP_HOST="app.bizmitra.example")).status_code)
proxied = mw(factory.get("/inbox/", HTTP_HOST="app.bizmitra.example", HTTP_X_FORWARDED_PROTO="https"))
print("proxied", proxied.status_code, proxied.headers.get("Strict-Transport-Security"))
"""


def test_production_redirects_to_https_but_not_the_probes_and_sends_hsts():
    result = subprocess.run(
        [PYTHON, "-c", PROBE], cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["healthz"] == "200", "k8s probes over plain HTTP must not be redirected"
    assert lines["page"] == "301"
    assert lines["proxied"] == "200 max-age=31536000; includeSubDomains"
