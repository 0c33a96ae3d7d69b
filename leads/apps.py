from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads and appointments"

    def ready(self) -> None:
        from leads import (
            document_listeners,  # noqa: F401  (issue 12: document.processed fills leads)
            listeners,  # noqa: F401  (registers event listeners)
        )
