"""Reads of the AI assistant's settings, call log and knowledge jobs (call inside the tenant's schema)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from conversations.models import AIAssistantSettings, KnowledgeFetchJob


def ai_settings_get() -> AIAssistantSettings:
    """The tenant's AI settings; an unsaved default when never saved (no write here)."""
    return AIAssistantSettings.objects.filter(pk=AIAssistantSettings.SINGLETON_PK).first() or AIAssistantSettings(
        pk=AIAssistantSettings.SINGLETON_PK
    )


def knowledge_job_get(*, job_id) -> KnowledgeFetchJob | None:
    return KnowledgeFetchJob.objects.filter(pk=job_id).first()


# What staff read when no endpoint is configured (dashboard banner, AI settings page).
AI_OFF_MESSAGE = "AI is off: set a key or an OpenAI-compatible base URL"
# The only endpoint we know needs a key; any other base URL (a gateway, a local model
# server) may well answer without one, so setting it counts as configured.
_KEYED_HOSTS = {"api.openai.com"}


def ai_endpoint_configured(*, config: AIAssistantSettings | None = None) -> bool:
    """True when an AI call could reach something: a key (the platform's or the tenant's
    own) or an OpenAI-compatible base URL other than OpenAI's. Tenant schema when
    ``config`` is not given; no network access.
    """
    if settings.OPENAI_API_KEY:
        return True
    if (urlsplit(settings.OPENAI_BASE_URL).hostname or "").lower() not in _KEYED_HOSTS:
        return True
    config = config if config is not None else ai_settings_get()
    if config.base_url and (urlsplit(config.base_url).hostname or "").lower() not in _KEYED_HOSTS:
        return True
    return bool(config.api_key)
