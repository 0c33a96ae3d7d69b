from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    """Shared (public-schema) side of the Meta channel: raw webhook deliveries."""

    name = "conversations.whatsapp"
    label = "whatsapp"
    verbose_name = "WhatsApp webhooks (platform)"
