"""Sync Meta-approved templates into one tenant: ``manage.py tenant_command meta_templates_sync
--schema=<schema>`` (or ``all_tenants_command`` for every tenant)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bizmitra.errors import ApplicationError
from templates.services import meta_templates_sync


class Command(BaseCommand):
    help = "Fetch the tenant's Meta-approved message templates from its WhatsApp Business account(s)."

    def handle(self, *args, **options):
        if connection.schema_name == "public":
            raise CommandError("Run it in a tenant: tenant_command or all_tenants_command.")
        try:
            result = meta_templates_sync()
        except ApplicationError as exc:
            raise CommandError(f"{connection.schema_name}: {exc.message}") from exc
        self.stdout.write(f"{connection.schema_name}: {result}")
