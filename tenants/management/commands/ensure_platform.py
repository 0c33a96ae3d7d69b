import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tenants.services import public_tenant_ensure


class Command(BaseCommand):
    help = (
        "Production bootstrap (idempotent): the public tenant for the platform host and a platform "
        "admin. The admin's password comes from PLATFORM_ADMIN_PASSWORD, never from the command line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="the platform host, e.g. admin.bizmitra.app")
        parser.add_argument("--admin-email", required=True)

    def handle(self, *args, **opts):
        public_tenant_ensure(domain=opts["domain"])
        connection.set_schema_to_public()
        user_model = get_user_model()
        email = opts["admin_email"]
        if user_model.objects.filter(username=email).exists():
            self.stdout.write(f"platform admin {email} already exists")
            return
        password = os.environ.get("PLATFORM_ADMIN_PASSWORD", "")
        if len(password) < 12:
            raise CommandError("Set PLATFORM_ADMIN_PASSWORD (at least 12 characters) to create the platform admin.")
        user_model.objects.create_superuser(email, email, password)
        self.stdout.write(self.style.SUCCESS(f"created platform admin {email} on {opts['domain']}"))
