"""Reads of the AI agent's settings, call log and knowledge jobs (call inside the tenant's schema)."""

from __future__ import annotations

from conversations.ai_models import AIAgentSettings, KnowledgeFetchJob


def ai_settings_get() -> AIAgentSettings:
    """The tenant's AI settings; an unsaved default when never saved (no write here)."""
    return AIAgentSettings.objects.filter(pk=AIAgentSettings.SINGLETON_PK).first() or AIAgentSettings(
        pk=AIAgentSettings.SINGLETON_PK
    )


def knowledge_job_get(*, job_id) -> KnowledgeFetchJob | None:
    return KnowledgeFetchJob.objects.filter(pk=job_id).first()
