"""Settings pages, part B (issue 11 §4): API keys, team, WhatsApp numbers — services,
selectors and views, agents refused everywhere, against a real SMTP server and the Graph sandbox."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.models import ApiKey, PhoneNumber, Tenant
from tenants.selectors import api_key_list, phone_number_list
from tenants.services import api_key_authenticate, owner_create, secret_fingerprint
from tenants.team.models import Invitation
from tenants.team.services import invitation_create, member_active_set, member_role_set
from tests.support import free_port
from tests.tenancy import tenant_client

HTMX = {"HTTP_HX_REQUEST": "true"}
AGENT_PASSWORD = "agent-password-1"


def _agent(alpha, email: str = "agent@alpha.test"):
    with schema_context(alpha.tenant.schema_name):
        return owner_create(email=email, password=AGENT_PASSWORD, is_owner=False)


def _login(alpha, email: str, password: str) -> Client:
    client = Client(HTTP_HOST=alpha.domain.domain)
    response = client.post("/login/", {"username": email, "password": password})
    assert response.status_code == 302, f"login of {email} failed"
    return client


def _owner(alpha):
    with schema_context(alpha.tenant.schema_name):
        return get_user_model().objects.get(username=alpha.owner_email)


class SmtpSink:
    """A local SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append({"to": list(envelope.rcpt_tos), "data": envelope.content.decode()})
        return "250 Message accepted"


@pytest.fixture
def smtp(settings):
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    yield sink
    controller.stop()


@pytest.fixture
def sandbox(graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    return graph_sandbox


@pytest.mark.django_db
class TestAgentsAreRefused:
    def test_every_page_and_fragment_is_a_friendly_403_for_an_agent(self, alpha):
        _agent(alpha)
        client = _login(alpha, "agent@alpha.test", AGENT_PASSWORD)
        for path in ("/settings/api-keys/", "/settings/team/", "/settings/numbers/", "/settings/api-keys/1/revoke/"):
            response = client.get(path)
            assert response.status_code == 403, path
            assert b"Only owners can change settings" in response.content
        posts = (
            "/settings/api-keys/create/",
            "/settings/api-keys/1/revoke/",
            "/settings/api-keys/callback-secret/",
            "/settings/team/invite/",
            "/settings/team/1/role/",
            "/settings/team/1/active/",
            "/settings/team/invitations/1/revoke/",
            "/settings/numbers/connect/",
            "/settings/numbers/sandbox/",
            "/settings/numbers/1/refresh/",
        )
        for path in posts:
            response = client.post(path, {"name": "x", "email": "x@y.test", "role": "owner"}, **HTMX)
            assert response.status_code == 403, path
            assert b"Only owners" in response.content
        assert not ApiKey.objects.filter(tenant=alpha.tenant, name="x").exists()

    def test_selectors_and_services_refuse_an_agent(self, alpha):
        agent = _agent(alpha)
        with pytest.raises(PermissionDenied):
            api_key_list(tenant=alpha.tenant, user=agent)
        with pytest.raises(PermissionDenied):
            phone_number_list(tenant=alpha.tenant, user=agent)
        with schema_context("alpha"), pytest.raises(PermissionDenied):
            invitation_create(by=agent, email="new@alpha.test", role="agent", base_url="http://alpha.test/")

    def test_anonymous_is_sent_to_sign_in(self, alpha):
        response = Client(HTTP_HOST=alpha.domain.domain).get("/settings/team/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
class TestApiKeys:
    def test_created_key_is_shown_once_and_works(self, alpha):
        client = tenant_client(alpha, login=True)
        response = client.post("/settings/api-keys/create/", {"name": "Website form"}, **HTMX)
        assert response.status_code == 201
        raw = re.search(rb"bzm_[0-9a-f]{8}_[A-Za-z0-9_-]+", response.content).group().decode()
        assert f'-H "X-Api-Key: {raw}"'.encode() in response.content  # the curl example
        assert b"X-Client-Code: ALPHA" in response.content
        assert api_key_authenticate(raw_key=raw, client_code="ALPHA") == alpha.tenant
        page = client.get("/settings/api-keys/")
        assert page.status_code == 200 and raw.encode() not in page.content
        assert b"Website form" in page.content

    def test_blank_name_is_an_inline_error(self, alpha):
        client = tenant_client(alpha, login=True)
        response = client.post("/settings/api-keys/create/", {"name": "  "}, **HTMX)
        assert response.status_code == 422
        assert b'id="key-name-error"' in response.content and b'aria-invalid="true"' in response.content

    def test_revoke_confirms_then_revokes_and_a_second_revoke_says_so(self, alpha):
        client = tenant_client(alpha, login=True)
        client.post("/settings/api-keys/create/", {"name": "To revoke"}, **HTMX)
        key = ApiKey.objects.get(tenant=alpha.tenant, name="To revoke")
        confirm = client.get(f"/settings/api-keys/{key.pk}/revoke/", **HTMX)
        assert b"Revoke To revoke" in confirm.content
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=None)
        assert client.post(f"/settings/api-keys/{key.pk}/revoke/", **HTMX).status_code == 200
        key.refresh_from_db()
        assert key.revoked_at is not None
        again = client.post(f"/settings/api-keys/{key.pk}/revoke/", **HTMX)
        assert again.status_code == 409 and b"already revoked" in again.content

    def test_another_tenants_key_is_404(self, alpha, beta):
        client = tenant_client(alpha, login=True)
        assert client.post(f"/settings/api-keys/{beta.api_key.api_key.pk}/revoke/").status_code == 404
        assert ApiKey.objects.get(pk=beta.api_key.api_key.pk).revoked_at is None

    def test_callback_secret_rotates_once_and_a_stale_rotation_is_refused(self, alpha):
        client = tenant_client(alpha, login=True)
        before = str(Tenant.objects.get(pk=alpha.tenant.pk).callback_signing_secret)
        response = client.post(
            "/settings/api-keys/callback-secret/", {"fingerprint": secret_fingerprint(before)}, **HTMX
        )
        assert response.status_code == 200
        after = str(Tenant.objects.get(pk=alpha.tenant.pk).callback_signing_secret)
        assert after != before and after.encode() in response.content
        page = client.get("/settings/api-keys/").content
        assert after.encode() not in page
        assert Tenant.objects.get(pk=alpha.tenant.pk).callback_secret_rotated_at is not None
        assert b", rotated <time" in page
        stale = client.post("/settings/api-keys/callback-secret/", {"fingerprint": secret_fingerprint(before)}, **HTMX)
        assert stale.status_code == 409 and b"changed by someone else" in stale.content
        assert str(Tenant.objects.get(pk=alpha.tenant.pk).callback_signing_secret) == after


@pytest.mark.django_db
class TestTeam:
    def _invite(self, client, django_capture_on_commit_callbacks, email="new.agent@alpha.test", role="agent"):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/settings/team/invite/", {"email": email, "role": role}, **HTMX)

    def test_invite_emails_a_link_that_sets_a_password_and_signs_in(
        self, alpha, smtp, django_capture_on_commit_callbacks
    ):
        client = tenant_client(alpha, login=True)
        response = self._invite(client, django_capture_on_commit_callbacks)
        assert response.status_code == 201 and b"Invitation sent to new.agent@alpha.test" in response.content
        assert b"Pending invitations" in response.content
        [mail] = smtp.messages
        assert mail["to"] == ["new.agent@alpha.test"] and "Join Alpha Dental on BizMitra" in mail["data"]
        link = re.search(r"http://alpha\.test/invitations/[^/\s]+/", mail["data"]).group()
        path = link.removeprefix("http://alpha.test")
        newcomer = Client(HTTP_HOST=alpha.domain.domain)
        assert b"Join Alpha Dental" in newcomer.get(path).content
        short = newcomer.post(path, {"password": "short", "password_again": "short"})
        assert short.status_code == 422 and b'id="password-error"' in short.content
        done = newcomer.post(path, {"password": "a-good-password", "password_again": "a-good-password"})
        assert done.status_code == 303
        me = newcomer.get("/api/me/").json()
        assert me["principal"]["email"] == "new.agent@alpha.test"
        with schema_context("alpha"):
            user = get_user_model().objects.get(username="new.agent@alpha.test")
            assert not user.is_superuser and user.groups.filter(name="Agents").exists()
        reuse = Client(HTTP_HOST=alpha.domain.domain).post(path, {"password": "x" * 12, "password_again": "x" * 12})
        assert reuse.status_code == 410 and b"already used" in reuse.content

    def test_expired_withdrawn_and_forged_links_are_refused(self, alpha, smtp, django_capture_on_commit_callbacks):
        client = tenant_client(alpha, login=True)
        self._invite(client, django_capture_on_commit_callbacks, email="late@alpha.test")
        path = re.search(r"/invitations/[^/\s]+/", smtp.messages[-1]["data"]).group()
        with schema_context("alpha"):
            Invitation.objects.filter(email="late@alpha.test").update(expires_at=timezone.now() - timedelta(seconds=1))
        expired = Client(HTTP_HOST=alpha.domain.domain).get(path)
        assert expired.status_code == 410 and b"expired" in expired.content
        forged = Client(HTTP_HOST=alpha.domain.domain).get(path[:-3] + "xx/")
        assert forged.status_code == 410 and b"not valid" in forged.content
        # A link of alpha means nothing on beta.
        assert Client(HTTP_HOST="beta.test").get(path).status_code == 410
        self._invite(client, django_capture_on_commit_callbacks, email="gone@alpha.test")
        with schema_context("alpha"):
            invitation = Invitation.objects.get(email="gone@alpha.test")
        gone_path = re.search(r"/invitations/[^/\s]+/", smtp.messages[-1]["data"]).group()
        assert client.post(f"/settings/team/invitations/{invitation.pk}/revoke/", **HTMX).status_code == 200
        withdrawn = Client(HTTP_HOST=alpha.domain.domain).get(gone_path)
        assert withdrawn.status_code == 410 and b"withdrawn" in withdrawn.content

    def test_invite_field_errors_are_inline(self, alpha, smtp, django_capture_on_commit_callbacks):
        client = tenant_client(alpha, login=True)
        bad = self._invite(client, django_capture_on_commit_callbacks, email="not-an-email")
        assert bad.status_code == 422 and b'id="invite-email-error"' in bad.content
        member = self._invite(client, django_capture_on_commit_callbacks, email=alpha.owner_email)
        assert member.status_code == 422 and b"already on the team" in member.content
        assert smtp.messages == []

    def test_unreachable_smtp_is_shown_not_a_500(self, alpha, settings, django_capture_on_commit_callbacks):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
        client = tenant_client(alpha, login=True)
        response = self._invite(client, django_capture_on_commit_callbacks, email="nomail@alpha.test")
        assert response.status_code == 201
        # The email goes out after commit; the list tells the owner it failed (copy-free retry: invite again).
        page = client.get("/settings/team/")
        assert b"nomail@alpha.test" in page.content and b"email not sent" in page.content

    def test_the_last_owner_cannot_be_demoted_or_deactivated(self, alpha):
        client = tenant_client(alpha, login=True)
        owner = _owner(alpha)
        demote = client.post(f"/settings/team/{owner.pk}/role/", {"role": "agent", "expected_role": "owner"}, **HTMX)
        assert demote.status_code == 422 and b"last owner" in demote.content
        with schema_context("alpha"):
            assert get_user_model().objects.get(pk=owner.pk).is_superuser
            with pytest.raises(Exception, match="cannot deactivate yourself"):
                member_active_set(by=owner, member_id=owner.pk, active=False)
            second = owner_create(email="second@alpha.test", password="second-pass-1")
            with pytest.raises(Exception, match="last owner"):
                # Even another owner cannot deactivate the only other owner once they are alone.
                member_role_set(by=owner, member_id=second.pk, role="agent", expected_role="owner")
                member_active_set(by=second, member_id=owner.pk, active=False)

    def test_role_change_with_a_stale_view_is_refused(self, alpha):
        agent = _agent(alpha)
        client = tenant_client(alpha, login=True)
        ok = client.post(f"/settings/team/{agent.pk}/role/", {"role": "owner", "expected_role": "agent"}, **HTMX)
        assert ok.status_code == 200
        stale = client.post(f"/settings/team/{agent.pk}/role/", {"role": "owner", "expected_role": "agent"}, **HTMX)
        assert stale.status_code == 409 and b"changed by someone else" in stale.content

    def test_a_deactivated_member_cannot_sign_in_and_their_session_ends(self, alpha):
        agent = _agent(alpha)
        agent_client = _login(alpha, "agent@alpha.test", AGENT_PASSWORD)
        client = tenant_client(alpha, login=True)
        response = client.post(f"/settings/team/{agent.pk}/active/", {"active": "0"}, **HTMX)
        assert response.status_code == 200 and b"can no longer sign in" in response.content
        assert agent_client.get("/").status_code == 302  # signed out
        refused = Client(HTTP_HOST=alpha.domain.domain).post(
            "/login/", {"username": "agent@alpha.test", "password": AGENT_PASSWORD}
        )
        assert refused.status_code == 200 and b"not right" in refused.content
        again = client.post(f"/settings/team/{agent.pk}/active/", {"active": "0"}, **HTMX)
        assert again.status_code == 409
        assert client.post(f"/settings/team/{agent.pk}/active/", {"active": "1"}, **HTMX).status_code == 200
        _login(alpha, "agent@alpha.test", AGENT_PASSWORD)

    def test_member_list_is_two_queries(self, alpha, django_assert_num_queries):
        from tenants.team.selectors import team_member_list

        owner = _owner(alpha)
        for i in range(3):
            _agent(alpha, email=f"a{i}@alpha.test")
        with schema_context("alpha"):
            get_user_model().objects.exists()  # the search_path is set by the first query
            with django_assert_num_queries(2):
                members = team_member_list(user=owner)
        assert members[0].user.pk == owner.pk and len(members) >= 4


@pytest.mark.django_db
class TestNumbers:
    FORM = {"phone_number_id": "106540359990001", "waba_id": "102290129349999", "access_token": "the-right-token"}

    def test_connect_verifies_with_graph_and_stores_the_token_encrypted(self, alpha, sandbox):
        sandbox.register_number("106540359990001", "the-right-token", display_phone_number="15550009999")
        client = tenant_client(alpha, login=True)
        response = client.post("/settings/numbers/connect/", self.FORM, **HTMX)
        assert response.status_code == 201 and b"Connected +15550009999" in response.content
        number = PhoneNumber.objects.get(phone_number_id="106540359990001")
        assert number.tenant == alpha.tenant and number.access_token == "the-right-token"
        with connection.cursor() as cursor:
            cursor.execute("SELECT access_token FROM public.tenants_phonenumber WHERE id = %s", [number.pk])
            assert "the-right-token" not in cursor.fetchone()[0]
        page = client.get("/settings/numbers/")
        assert b"+15550009999" in page.content and b"the-right-token" not in page.content
        again = client.post("/settings/numbers/connect/", self.FORM, **HTMX)
        assert again.status_code == 422 and b"already connected" in again.content

    def test_metas_status_and_quality_are_kept_at_connect_and_checked_again(self, alpha, sandbox):
        sandbox.register_number("106540359990003", "the-right-token", display_phone_number="15550003333")
        client = tenant_client(alpha, login=True)
        form = {**self.FORM, "phone_number_id": "106540359990003"}
        assert client.post("/settings/numbers/connect/", form, **HTMX).status_code == 201
        number = PhoneNumber.objects.get(phone_number_id="106540359990003")
        assert (number.meta_status, number.quality_rating) == ("CONNECTED", "GREEN")
        assert number.checked_at is not None
        page = client.get("/settings/numbers/").content.decode()
        assert re.search(r'badge--bot">Connected</span>\s*· quality <span class="badge badge--bot">High<', page)
        # Meta flags the number and its quality drops: "Check with Meta" shows it.
        sandbox.register_number("106540359990003", "the-right-token", quality_rating="RED", status="FLAGGED")
        response = client.post(f"/settings/numbers/{number.pk}/refresh/", **HTMX)
        assert response.status_code == 200
        body = response.content.decode()
        assert "Checked +15550003333 with Meta: FLAGGED, quality RED." in body
        assert 'badge--failed">Flagged</span>' in body and 'badge--failed">Low</span>' in body
        number.refresh_from_db()
        assert (number.meta_status, number.quality_rating) == ("FLAGGED", "RED")
        # A token Meta no longer accepts: Meta's reason beside the number, nothing changed.
        PhoneNumber.objects.filter(pk=number.pk).update(access_token="an-expired-token")
        refused = client.post(f"/settings/numbers/{number.pk}/refresh/", **HTMX)
        assert refused.status_code == 422 and "error 190" in refused.content.decode()
        number.refresh_from_db()
        assert (number.meta_status, number.quality_rating) == ("FLAGGED", "RED")
        # Another business's number, or none: 404, never a 500.
        assert client.post("/settings/numbers/999999/refresh/", **HTMX).status_code == 404

    def test_a_token_meta_rejects_is_not_saved_and_metas_reason_is_shown(self, alpha, sandbox):
        sandbox.register_number("106540359990002", "the-right-token")
        client = tenant_client(alpha, login=True)
        form = {**self.FORM, "phone_number_id": "106540359990002", "access_token": "a-wrong-token"}
        response = client.post("/settings/numbers/connect/", form, **HTMX)
        assert response.status_code == 422
        assert b'id="f-access_token-error"' in response.content and b"error 190" in response.content
        assert not PhoneNumber.objects.filter(phone_number_id="106540359990002").exists()
        unknown = client.post("/settings/numbers/connect/", {**self.FORM, "phone_number_id": "99999"}, **HTMX)
        assert unknown.status_code == 422 and b'id="f-phone_number_id-error"' in unknown.content
        assert b"error 100" in unknown.content

    def test_invalid_fields_are_inline_and_graph_is_not_called(self, alpha, sandbox):
        client = tenant_client(alpha, login=True)
        calls = len(sandbox.requests)
        response = client.post(
            "/settings/numbers/connect/",
            {"phone_number_id": "abc", "waba_id": "", "access_token": "", "app_secret": "zz"},
            **HTMX,
        )
        assert response.status_code == 422
        for name in ("phone_number_id", "waba_id", "access_token", "app_secret"):
            assert f'id="f-{name}-error"'.encode() in response.content
        assert len(sandbox.requests) == calls

    def test_graph_unreachable_is_a_message_not_a_500(self, alpha, settings):
        settings.WHATSAPP_GRAPH_URL = f"http://127.0.0.1:{free_port()}"
        client = tenant_client(alpha, login=True)
        response = client.post("/settings/numbers/connect/", self.FORM, **HTMX)
        assert response.status_code == 422 and b"Could not reach Meta" in response.content
        assert not PhoneNumber.objects.filter(phone_number_id=self.FORM["phone_number_id"]).exists()

    def test_use_the_sandbox_connects_a_test_number(self, alpha, sandbox):
        client = tenant_client(alpha, login=True)
        assert b"Use the sandbox" in client.get("/settings/numbers/").content
        before = PhoneNumber.objects.filter(tenant=alpha.tenant).count()
        response = client.post("/settings/numbers/sandbox/", **HTMX)
        assert response.status_code == 201 and b"Sandbox number" in response.content
        assert PhoneNumber.objects.filter(tenant=alpha.tenant).count() == before + 1
