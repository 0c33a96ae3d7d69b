from django.core.management.base import BaseCommand

from workflows.services import workflow_periodic_tasks_ensure


class Command(BaseCommand):
    help = "Register the workflow dispatcher with django-celery-beat (idempotent; run at startup)."

    def handle(self, *args, **opts):
        workflow_periodic_tasks_ensure()
        self.stdout.write("workflow dispatcher registered with celery beat")
