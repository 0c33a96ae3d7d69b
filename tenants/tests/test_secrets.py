import logging

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from bizmitra.crypto import Secret, decrypt_str, encrypt_str
from tenants.models import PhoneNumber


def _raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_access_token_is_stored_encrypted_and_reads_back(db, alpha):
    phone = PhoneNumber.objects.get(pk=alpha.phone_number.pk)
    assert phone.access_token == "alpha-token"
    raw = _raw_column("tenants_phonenumber", "access_token", phone.pk)
    assert "alpha-token" not in raw and raw.startswith("gAAAA")
    assert "alpha-token" not in repr(phone.access_token)
    assert isinstance(phone.access_token, Secret)


def test_api_key_is_stored_hashed_only(db, alpha):
    raw_key = alpha.api_key.raw_key
    stored = _raw_column("tenants_apikey", "key_hash", alpha.api_key.api_key.pk)
    assert raw_key not in stored and len(stored) == 64


def test_key_rotation_reencrypts_and_old_key_can_be_dropped(db, alpha, settings, caplog):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]
    # Still readable during the transition (old key decrypts).
    assert PhoneNumber.objects.get(pk=alpha.phone_number.pk).access_token == "alpha-token"
    with caplog.at_level(logging.DEBUG):
        call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))
    assert "alpha-token" not in caplog.text
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    connection.set_schema_to_public()
    assert PhoneNumber.objects.get(pk=alpha.phone_number.pk).access_token == "alpha-token"


def test_round_trip_and_wrong_key(settings):
    token = encrypt_str("s3cret")
    assert decrypt_str(token) == "s3cret"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    import pytest

    from bizmitra.crypto import SecretDecryptionError

    with pytest.raises(SecretDecryptionError):
        decrypt_str(token)


def test_secrets_absent_from_admin_list_pages(db, alpha, admin_user):
    from django.test import Client

    connection.set_schema_to_public()
    client = Client(HTTP_HOST="testserver")
    client.force_login(admin_user)
    for url in (
        "/admin/tenants/phonenumber/",
        f"/admin/tenants/phonenumber/{alpha.phone_number.pk}/change/",
        "/admin/tenants/apikey/",
        "/admin/tenants/tenant/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "alpha-token" not in body and alpha.api_key.raw_key not in body
        assert alpha.api_key.api_key.key_hash not in body
