import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from bizmitra.errors import ValidationFailed
from tenants.models import ApiKey, Domain, PhoneNumber, Tenant
from tenants.services import api_key_authenticate, tenant_onboard


def _args(**overrides):
    args = {
        "name": "Gamma Gym",
        "schema_name": "gamma",
        "domain": "gamma.test",
        "phone_number_id": "555000111",
        "access_token": "gamma-token",
        "owner_email": "owner@gamma.test",
        "owner_password": "gamma-password",
    }
    args.update(overrides)
    return args


def test_onboard_command_prints_json_and_creates_everything(db, tenants_setup, capsys):
    call_command(
        "onboard_tenant",
        "--name=Delta Cafe",
        "--schema=delta",
        "--domain=delta.test",
        "--phone-number-id=777000111",
        "--access-token=delta-token",
        "--owner-email=owner@delta.test",
        "--owner-password=delta-password",
        "--json",
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"schema", "domain", "client_code", "api_key", "phone_number_id"} <= out.keys()
    assert out["schema"] == "delta" and out["domain"] == "delta.test" and out["phone_number_id"] == "777000111"
    assert out["client_code"] == out["client_code"].upper() and out["client_code"]
    tenant = Tenant.objects.get(schema_name="delta")
    assert schema_exists("delta")
    assert Domain.objects.get(domain="delta.test").tenant == tenant
    assert api_key_authenticate(raw_key=out["api_key"], client_code=out["client_code"]) == tenant
    with schema_context("delta"):
        owner = get_user_model().objects.get(email="owner@delta.test")
        assert owner.check_password("delta-password")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"phone_number_id": "106540352242922"}, "phone_number_id"),  # Alpha's number
        ({"schema_name": "alpha"}, "schema"),
        ({"schema_name": "Bad-Name"}, "schema"),
        ({"schema_name": "public"}, "schema"),
        ({"domain": "alpha.test"}, "domain"),
        ({"owner_email": "not-an-email"}, "owner_email"),
    ],
)
def test_bad_onboarding_input_is_refused_and_leaves_nothing(db, tenants_setup, overrides, field):
    before = (Tenant.objects.count(), Domain.objects.count(), PhoneNumber.objects.count(), ApiKey.objects.count())
    with pytest.raises(ValidationFailed) as excinfo:
        tenant_onboard(**_args(**overrides))
    assert field in excinfo.value.fields
    after = (Tenant.objects.count(), Domain.objects.count(), PhoneNumber.objects.count(), ApiKey.objects.count())
    assert before == after
    assert not schema_exists("gamma")


def test_onboard_command_reports_a_clear_error(db, tenants_setup):
    with pytest.raises(CommandError, match="already registered"):
        call_command(
            "onboard_tenant",
            "--name=Dup",
            "--schema=dup",
            "--domain=dup.test",
            "--phone-number-id=106540352242922",
            "--access-token=t",
            "--owner-email=o@dup.test",
            "--owner-password=password1",
        )
    assert not Tenant.objects.filter(schema_name="dup").exists()
    assert not schema_exists("dup")


def test_failure_midway_rolls_back_schema_and_rows(db, tenants_setup, monkeypatch):
    # The owner cannot be created (a database-level failure after the schema exists):
    # nothing of the tenant may remain.
    from tenants import services

    def explode(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "owner_create", explode)
    with pytest.raises(RuntimeError):
        tenant_onboard(**_args(schema_name="epsilon", domain="epsilon.test", phone_number_id="999000111"))
    connection.set_schema_to_public()
    assert not Tenant.objects.filter(schema_name="epsilon").exists()
    assert not PhoneNumber.objects.filter(phone_number_id="999000111").exists()
    assert not schema_exists("epsilon")


def test_ensure_platform_creates_public_domain_and_admin_once(db, tenants_setup, monkeypatch, capsys):
    from tenants.models import Domain

    with pytest.raises(CommandError, match="PLATFORM_ADMIN_PASSWORD"):
        call_command("ensure_platform", "--domain=platform.test", "--admin-email=root@platform.test")
    monkeypatch.setenv("PLATFORM_ADMIN_PASSWORD", "a-long-platform-password")
    call_command("ensure_platform", "--domain=platform.test", "--admin-email=root@platform.test")
    call_command("ensure_platform", "--domain=platform.test", "--admin-email=root@platform.test")
    assert Domain.objects.get(domain="platform.test").tenant.schema_name == "public"
    admin = get_user_model().objects.get(username="root@platform.test")
    assert admin.is_superuser and admin.check_password("a-long-platform-password")
    assert "already exists" in capsys.readouterr().out
