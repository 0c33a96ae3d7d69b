"""Meta's webhook, mounted under ``/webhooks/`` by bizmitra/urls_public.py (any host)."""

from django.urls import re_path

from conversations.whatsapp.views import whatsapp_webhook

# With or without the trailing slash: APPEND_SLASH cannot redirect a POST.
urlpatterns = [re_path(r"^whatsapp/?$", whatsapp_webhook, name="whatsapp-webhook")]
