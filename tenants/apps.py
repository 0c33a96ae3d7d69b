from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants (platform)"

    def ready(self) -> None:
        from bizmitra.periodic import ensure_after_public_migrate

        post_migrate.connect(ensure_after_public_migrate, dispatch_uid="bizmitra.periodic_tasks")
