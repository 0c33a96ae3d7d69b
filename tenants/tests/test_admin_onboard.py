"""Platform staff onboard tenants from the public Django admin."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import schema_context, schema_exists

from tenants.models import PhoneNumber, Tenant

FORM = {
    "name": "Zeta Spa",
    "schema": "zeta",
    "domain": "zeta.test",
    "phone_number_id": "444000111",
    "display_phone_number": "",
    "waba_id": "",
    "access_token": "zeta-token",
    "app_secret": "",
    "owner_email": "owner@zeta.test",
    "owner_password": "zeta-password",
}


@pytest.fixture
def staff_client(db, tenants_setup):
    user = get_user_model().objects.create_superuser("staff@platform.test", "staff@platform.test", "staff-pass")
    client = Client(HTTP_HOST="testserver")
    client.force_login(user)
    return client


def test_staff_onboard_a_tenant_and_see_the_api_key_once(staff_client):
    response = staff_client.post("/admin/tenants/tenant/onboard/", FORM, follow=True)
    assert response.status_code == 200
    tenant = Tenant.objects.get(schema_name="zeta")
    assert schema_exists("zeta")
    assert PhoneNumber.objects.get(phone_number_id="444000111").tenant == tenant
    shown = " ".join(str(m) for m in response.context["messages"])
    raw_key = next(word for word in shown.split() if word.startswith("bzm_"))
    with schema_context("zeta"):
        assert get_user_model().objects.get(email="owner@zeta.test").check_password("zeta-password")
    # The key is shown once: never again on later pages.
    assert raw_key.encode() not in staff_client.get("/admin/tenants/apikey/").content


def test_duplicate_phone_number_shows_the_error_and_creates_nothing(staff_client, alpha):
    form = dict(FORM, schema="eta", domain="eta.test", phone_number_id=alpha.phone_number.phone_number_id)
    response = staff_client.post("/admin/tenants/tenant/onboard/", form)
    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert not Tenant.objects.filter(schema_name="eta").exists()
    assert not schema_exists("eta")


def test_bad_schema_name_is_a_form_error(staff_client):
    response = staff_client.post("/admin/tenants/tenant/onboard/", dict(FORM, schema="Bad-Name"))
    assert response.status_code == 200
    assert 'id="id_schema_error"' in response.content.decode()
    assert not Tenant.objects.filter(name="Zeta Spa").exists()
