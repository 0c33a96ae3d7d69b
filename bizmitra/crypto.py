"""Secrets at rest: Fernet-encrypted model fields with key rotation.

Keys come from ``FIELD_ENCRYPTION_KEYS`` (comma-separated). The first key
encrypts; every key decrypts, so a new key can be put first, the data
re-encrypted with ``manage.py rotate_encryption_keys``, and the old key dropped.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _multi_fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_str(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt_str(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("No configured FIELD_ENCRYPTION_KEYS key decrypts this value.") from exc


def rotate_token(token: str) -> str:
    """Re-encrypt an existing ciphertext under the current primary key."""
    return fernet().rotate(token.encode()).decode()


class Secret(str):
    """A decrypted secret whose repr never shows its value (safe in logs and tracebacks)."""

    def __repr__(self) -> str:
        return "Secret('********')"


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token; reads back as plaintext ``Secret``.

    The database only ever sees ciphertext. Empty strings are stored as-is so
    "no secret configured" stays cheap to test for.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return Secret(decrypt_str(value))

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(str(value))
