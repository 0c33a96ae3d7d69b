"""`manage.py signup_template_ensure`: create or bring up to date the schema new sign-ups copy.

Run after `migrate_schemas` on deploy, so the first sign-up does not pay for building it.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.signup.services import signup_template_ensure


class Command(BaseCommand):
    help = "Create or migrate the template schema that self-serve sign-ups are copied from."

    def handle(self, *args, **opts):
        with transaction.atomic():
            signup_template_ensure()
        self.stdout.write("signup template ready")
