from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads and appointments"

    def ready(self) -> None:
        from bizmitra.periodic import periodic_tasks_register
        from conversations.engine import hooks
        from leads import (
            document_listeners,  # noqa: F401  (issue 12: document.processed fills leads)
            listeners,  # noqa: F401  (registers event listeners)
        )
        from leads.engine_hooks import CONTACT_RELATIONS, contact_lead, contact_lead_fields_capture, contact_lead_save
        from leads.services import leads_periodic_tasks_ensure

        periodic_tasks_register(leads_periodic_tasks_ensure)
        hooks.install(
            lead_getter=contact_lead,
            lead_capturer=contact_lead_fields_capture,
            lead_saver=contact_lead_save,
            relations=CONTACT_RELATIONS,
        )
