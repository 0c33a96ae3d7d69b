"""Seed the built-in intents in one tenant: ``manage.py tenant_command builtin_intents_ensure
--schema=<schema>``, or every tenant: ``manage.py all_tenants_command builtin_intents_ensure``."""

from django.core.management.base import BaseCommand
from django.db import connection

from templates.services import builtin_intents_ensure


class Command(BaseCommand):
    help = "Create the built-in intent rules (greeting, opt-out, ...) this tenant does not have yet."

    def handle(self, *args, **options):
        if connection.schema_name == "public":
            self.stderr.write("Run it in a tenant: tenant_command or all_tenants_command.")
            return
        created = builtin_intents_ensure()
        self.stdout.write(f"{connection.schema_name}: {len(created)} built-in intent(s) created.")
