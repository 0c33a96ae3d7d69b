from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django_tenants.utils import get_tenant_model, tenant_context

from bizmitra.crypto import EncryptedTextField, rotate_token


def _encrypted_models(*, shared: bool):
    app_names = set(settings.SHARED_APPS if shared else settings.TENANT_APPS)
    for model in apps.get_models():
        if model._meta.app_config.name not in app_names:
            continue
        fields = [f for f in model._meta.fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


def _rotate_current_schema(*, shared: bool) -> int:
    count = 0
    for model, fields in _encrypted_models(shared=shared):
        table = connection.ops.quote_name(model._meta.db_table)
        for field in fields:
            column = connection.ops.quote_name(field.column)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> ''")
                for pk, token in cursor.fetchall():
                    cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [rotate_token(token), pk])
                    count += 1
    return count


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column under the first key of FIELD_ENCRYPTION_KEYS. "
        "Run after putting a new key first; the old key can be removed afterwards."
    )

    def handle(self, *args, **opts):
        connection.set_schema_to_public()
        total = _rotate_current_schema(shared=True)
        for tenant in get_tenant_model().objects.exclude(schema_name="public"):
            with tenant_context(tenant):
                total += _rotate_current_schema(shared=False)
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} values."))
