from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documents"

    def ready(self) -> None:
        from bizmitra.storage import register_tenant_backend_provider
        from documents import listeners  # noqa: F401  (registers event listeners)
        from documents.storage_settings import tenant_backend

        register_tenant_backend_provider(tenant_backend)
        from bizmitra.periodic import periodic_tasks_register
        from documents.recovery import documents_periodic_tasks_ensure

        periodic_tasks_register(documents_periodic_tasks_ensure)  # readings lost with the broker
