"""People and access: each credential works on its own tenant only."""

import pytest
from django.test import Client

from tests.tenancy import tenant_client


@pytest.mark.django_db
class TestTenantIsolation:
    def test_owner_session_works_on_own_domain_only(self, alpha, beta):
        client = tenant_client(alpha, login=True)
        assert client.get("/api/me/").json()["tenant"]["schema"] == "alpha"
        # The same session cookie on another tenant's host is just anonymous there.
        other = Client(HTTP_HOST=beta.domain.domain)
        other.cookies = client.cookies
        assert other.get("/api/me/").status_code in (401, 403)
        assert other.get("/").status_code == 302  # to the login page

    def test_owner_cannot_log_in_to_another_tenant(self, alpha, beta):
        client = Client(HTTP_HOST=beta.domain.domain)
        response = client.post("/login/", {"username": alpha.owner_email, "password": "alpha-password"})
        assert response.status_code == 200 and b"not right" in response.content

    def test_api_key_only_for_its_own_tenant(self, alpha, beta):
        header = {"HTTP_AUTHORIZATION": f"Bearer {alpha.api_key.raw_key}"}
        ok = Client(HTTP_HOST=alpha.domain.domain).get("/api/me/", **header)
        assert ok.status_code == 200 and ok.json()["principal"]["kind"] == "api_key"
        refused = Client(HTTP_HOST=beta.domain.domain).get("/api/me/", **header)
        assert refused.status_code == 401
        assert refused.json()["error"] == "authentication_failed"

    def test_jwt_only_for_the_tenant_that_issued_it(self, alpha, beta):
        client = Client(HTTP_HOST=alpha.domain.domain)
        tokens = client.post(
            "/api/auth/token/",
            {"username": alpha.owner_email, "password": "alpha-password"},
            content_type="application/json",
        ).json()
        header = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
        assert client.get("/api/me/", **header).json()["principal"]["email"] == alpha.owner_email
        # Beta has a user with the same numeric id; the token must still be refused there.
        assert Client(HTTP_HOST=beta.domain.domain).get("/api/me/", **header).status_code == 401

    def test_revoked_or_garbage_keys_refused(self, alpha):
        client = Client(HTTP_HOST=alpha.domain.domain)
        for key in ("bzm_nope_nope", "bzm_" + alpha.api_key.api_key.prefix + "_wrong", "garbage"):
            assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401

    def test_unknown_host_is_404(self):
        assert Client(HTTP_HOST="nobody.test").get("/api/me/").status_code == 404

    def test_dashboard_requires_login_and_shows_tenant(self, alpha):
        anonymous = tenant_client(alpha)
        assert anonymous.get("/").status_code == 302
        page = tenant_client(alpha, login=True).get("/")
        assert page.status_code == 200 and b"Alpha Dental" in page.content


@pytest.mark.django_db
class TestPlatformAdminIsNotReachableFromATenantHost:
    """An owner is a superuser in their own schema; platform pages must still be out of reach."""

    PLATFORM_PAGES = (
        "/admin/tenants/tenant/",
        "/admin/tenants/phonenumber/",
        "/admin/tenants/apikey/",
        "/admin/tenants/tenant/onboard/",
        "/admin/whatsapp/webhookdelivery/",
        "/admin/whatsapp/unroutedevent/",
        "/admin/django_celery_beat/periodictask/",
    )

    def test_owner_on_own_domain_gets_404_for_every_platform_page(self, alpha, beta):
        client = tenant_client(alpha, login=True)
        assert client.get("/admin/").status_code == 200  # the tenant's own admin works
        for url in self.PLATFORM_PAGES:
            assert client.get(url).status_code == 404, url
        assert client.get(f"/admin/tenants/phonenumber/{beta.phone_number.pk}/change/").status_code == 404

    def test_owner_cannot_onboard_a_tenant_from_a_tenant_host(self, alpha):
        from tenants.models import Tenant

        client = tenant_client(alpha, login=True)
        before = Tenant.objects.count()
        response = client.post(
            "/admin/tenants/tenant/onboard/",
            {
                "name": "Sneaky",
                "schema": "sneaky",
                "domain": "sneaky.test",
                "phone_number_id": "123123123",
                "access_token": "t",
                "owner_email": "o@sneaky.test",
                "owner_password": "password123",
            },
        )
        assert response.status_code == 404
        assert Tenant.objects.count() == before
