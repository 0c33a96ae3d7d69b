from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from bizmitra.periodic import periodic_tasks_register
        from workflows import listeners  # noqa: F401  (the workflows a lead or an appointment sets off)
        from workflows.lead_timeline import lead_pages_hooks_install
        from workflows.services import workflow_periodic_tasks_ensure
        from workflows.tasks import dispatch_on_worker_ready

        periodic_tasks_register(workflow_periodic_tasks_ensure)
        lead_pages_hooks_install()

        # Recover jobs left pending by a restart as soon as a worker is up (see the handler).
        worker_ready.connect(dispatch_on_worker_ready, dispatch_uid="workflows.dispatch_on_worker_ready", weak=False)
