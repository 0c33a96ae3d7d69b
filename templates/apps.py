from django.apps import AppConfig


class TemplatesConfig(AppConfig):
    """WhatsApp message templates and button flows (not HTML templates)."""

    name = "templates"
    label = "message_templates"
    verbose_name = "Message templates and flows"

    def ready(self) -> None:
        from django_tenants.signals import post_schema_sync

        from templates.services.builtin_intents import builtin_intents_ensure_for_new_tenant

        # New tenants start with the built-in intents (greeting, opt-out, ...).
        post_schema_sync.connect(builtin_intents_ensure_for_new_tenant, dispatch_uid="builtin_intents_ensure")

        from bizmitra.config_cache import config_models_watch
        from templates.models import FlowRule, FlowSettings, MessageTemplate, TemplateButton, TemplateListRow

        # The engine reads these from a per-process snapshot (templates.selectors.flow_book).
        config_models_watch(
            MessageTemplate, TemplateButton, TemplateListRow, FlowRule, FlowSettings, dispatch_prefix="templates"
        )
