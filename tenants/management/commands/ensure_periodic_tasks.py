from django.core.management.base import BaseCommand

from bizmitra.periodic import periodic_tasks_ensure_all


class Command(BaseCommand):
    help = "Create or update every app's celery beat schedule (idempotent)."

    def handle(self, *args, **opts):
        for path in periodic_tasks_ensure_all():
            self.stdout.write(f"ensured {path}")
