from django.apps import AppConfig


class TemplatesConfig(AppConfig):
    """WhatsApp message templates and button flows (not HTML templates)."""

    name = "templates"
    label = "message_templates"
    verbose_name = "Message templates and flows"
