"""API keys belong to business tenants: the platform (public schema) can never get one."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from bizmitra.errors import ValidationFailed
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create


@pytest.fixture
def staff_client(db, tenants_setup):
    user = get_user_model().objects.create_superuser("keys@platform.test", "keys@platform.test", "staff-pass")
    client = Client(HTTP_HOST="testserver")
    client.force_login(user)
    return client


def public_tenant() -> Tenant:
    return Tenant.objects.get(schema_name="public")


def test_the_service_refuses_a_key_for_the_public_schema(db, tenants_setup):
    with pytest.raises(ValidationFailed) as refused:
        api_key_create(tenant=public_tenant(), name="sneaky")
    assert "tenant" in refused.value.fields
    assert not ApiKey.objects.filter(tenant=public_tenant()).exists()


def test_the_service_still_issues_keys_for_business_tenants(db, alpha):
    issued = api_key_create(tenant=alpha.tenant, name="second")
    assert issued.raw_key.startswith("bzm_") and issued.api_key.tenant == alpha.tenant


def test_the_admin_does_not_offer_the_platform_and_refuses_it(staff_client, alpha):
    page = staff_client.get("/admin/tenants/apikey/add/")
    assert page.status_code == 200
    choices = dict(page.context["adminform"].form.fields["tenant"].choices)
    assert str(public_tenant().pk) not in {str(value) for value in choices}
    assert any(alpha.tenant.name in str(label) for label in choices.values())

    response = staff_client.post("/admin/tenants/apikey/add/", {"tenant": public_tenant().pk, "name": "platform"})
    assert response.status_code == 200  # the form again, with the error; no 500
    assert "tenant" in response.context["adminform"].form.errors
    assert not ApiKey.objects.filter(tenant=public_tenant()).exists()


def test_the_admin_issues_a_key_for_a_business_tenant_and_shows_it_once(staff_client, alpha):
    response = staff_client.post("/admin/tenants/apikey/add/", {"tenant": alpha.tenant.pk, "name": "site"}, follow=True)
    assert response.status_code == 200
    shown = " ".join(str(m) for m in response.context["messages"])
    raw_key = next(word for word in shown.split() if word.startswith("bzm_"))
    assert ApiKey.objects.filter(tenant=alpha.tenant, name="site").count() == 1
    assert raw_key.encode() not in staff_client.get("/admin/tenants/apikey/").content


def test_authenticating_records_use_and_a_revoked_key_no_longer_works(db, alpha):
    from tenants.services import api_key_authenticate, api_keys_revoke

    issued = api_key_create(tenant=alpha.tenant, name="revocable")
    assert api_key_authenticate(raw_key=issued.raw_key) == alpha.tenant
    issued.api_key.refresh_from_db()
    assert issued.api_key.last_used_at is not None

    assert api_keys_revoke(api_keys=ApiKey.objects.filter(pk=issued.api_key.pk)) == 1
    assert api_keys_revoke(api_keys=ApiKey.objects.filter(pk=issued.api_key.pk)) == 0  # already revoked
    assert api_key_authenticate(raw_key=issued.raw_key) is None


def test_the_admin_action_revokes_through_the_service(staff_client, alpha):
    issued = api_key_create(tenant=alpha.tenant, name="by-admin")
    response = staff_client.post(
        "/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [issued.api_key.pk]}, follow=True
    )
    assert response.status_code == 200
    issued.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is not None
