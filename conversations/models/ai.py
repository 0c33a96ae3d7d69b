"""Models of the AI assistant (``conversations.ai``): its per-tenant settings, the call log, and
website knowledge fetch jobs. Tenant schema, like the rest of the conversations app.

Kept apart from ``conversations/models.py`` so the agent's tables have one owner;
``conversations.models`` star-imports this module so Django registers them with the app.
"""

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from bizmitra.crypto import EncryptedTextField
from conversations.ai.choices import CallOutcome, KnowledgeJobStatus, ToolOutcome

__all__ = ["AIAssistantSettings", "AICallLog", "AIToolCallLog", "KnowledgeFetchJob"]

# Only this much knowledge goes into a prompt (and is kept from a website fetch): the whole
# text is sent on every AI call, so it is paid for on every message (~4 characters a token).
KNOWLEDGE_MAX_CHARS = 12_000


class AIAssistantSettings(models.Model):
    """How this tenant's AI assistant answers: model, prompt, what it knows, and its cost limits.

    Exactly one row per tenant schema (pk 1); read it with
    ``conversations.ai.selectors.ai_settings_get`` (an unsaved default until first saved).
    """

    SINGLETON_PK = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_PK, editable=False)
    enabled = models.BooleanField(
        default=True, help_text="Off: messages no rule matched get the fallback template instead of an AI answer."
    )
    model = models.CharField(
        max_length=100, blank=True, default="", help_text="Model name at the AI endpoint; empty: the platform default."
    )
    system_prompt = models.TextField(
        blank=True,
        default="",
        help_text="Instructions for the assistant (tone, what to do and avoid). Empty: a sensible default.",
    )
    temperature = models.FloatField(default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    # A tenant may bring its own provider key; empty means the platform's OPENAI_API_KEY.
    api_key = EncryptedTextField(blank=True, default="")
    base_url = models.URLField(
        "OpenAI-compatible base URL",
        max_length=500,
        blank=True,
        default="",
        help_text="e.g. https://api.openai.com/v1 or a gateway's; empty: the platform's OPENAI_BASE_URL.",
    )
    business_profile = models.TextField(
        blank=True, default="", help_text="Who the business is: products, prices, hours, area served, policies."
    )
    knowledge = models.TextField(
        blank=True,
        default="",
        help_text=f"Reference text the assistant answers from (fetched from the website, editable). "
        f"Only the first {KNOWLEDGE_MAX_CHARS:,} characters are used.",
    )
    knowledge_source_url = models.URLField(max_length=2000, blank=True, default="")
    knowledge_fetched_at = models.DateTimeField(null=True, blank=True)
    daily_token_budget = models.PositiveIntegerField(
        default=200_000, help_text="Tokens (prompt + completion) per day, in the tenant's time zone. 0: no AI calls."
    )
    per_contact_hourly_cap = models.PositiveIntegerField(
        default=20, help_text="AI answers one contact can get per hour. 0: no AI calls."
    )
    timeout_seconds = models.FloatField(
        default=20.0,
        validators=[MinValueValidator(1.0), MaxValueValidator(120.0)],
        help_text="Longest wait for each request to the AI endpoint.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "AI assistant settings"
        verbose_name_plural = "AI assistant settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="ai_agent_settings_singleton")]

    def __str__(self) -> str:
        return "AI assistant settings"


class AICallLog(models.Model):
    """One attempt of the AI assistant to answer one inbound message, for analytics and audits.

    Covers every round of the tool loop (tokens and latency are summed over them); attempts
    refused before any request (disabled, budget, hourly cap) are recorded too, with zero
    tokens and ``outcome=fallback``. ``reason`` is a ``FallbackReason`` code when the
    customer got the fallback, otherwise empty (or ``rejected_tool``); ``detail`` is free text.
    """

    contact = models.ForeignKey(
        "conversations.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="ai_calls"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="ai_calls"
    )
    inbound_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=100, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    rounds = models.PositiveSmallIntegerField(default=0, help_text="Requests made to the AI endpoint.")
    outcome = models.CharField(max_length=16, choices=CallOutcome.choices)
    reason = models.CharField(max_length=32, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    reply_kind = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "AI call"
        indexes = [models.Index(fields=["outcome", "created_at"])]

    def __str__(self) -> str:
        return f"AI call {self.pk}: {self.outcome}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class AIToolCallLog(models.Model):
    """One tool call the model asked for, with what our code did about it.

    ``rejected`` calls (unknown tool, arguments that are not JSON or break the schema, a
    template key this tenant does not have) were never executed; ``arguments`` keeps the
    raw string the model sent.
    """

    call = models.ForeignKey(AICallLog, on_delete=models.CASCADE, related_name="tool_calls")
    tool_call_id = models.CharField(max_length=128, blank=True, default="")
    name = models.CharField(max_length=64, blank=True, default="")
    arguments = models.TextField(blank=True, default="")
    outcome = models.CharField(max_length=16, choices=ToolOutcome.choices)
    reason = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "AI tool call"

    def __str__(self) -> str:
        return f"{self.name or '?'}: {self.outcome}"


class KnowledgeFetchJob(models.Model):
    """Fetching the business's website into the AI knowledge, run by a Celery task.

    ``pages_total`` is the number of pages the crawl will visit as far as it knows (it grows
    as links are found, up to ``max_pages``); ``pages`` lists each visited URL with what
    happened to it. When done, the extracted text replaces ``AIAssistantSettings.knowledge``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000)
    status = models.CharField(max_length=16, choices=KnowledgeJobStatus.choices, default=KnowledgeJobStatus.QUEUED)
    max_pages = models.PositiveSmallIntegerField(default=10)
    max_depth = models.PositiveSmallIntegerField(default=2)
    pages_total = models.PositiveSmallIntegerField(default=0)
    pages_fetched = models.PositiveSmallIntegerField(default=0)
    pages_skipped = models.PositiveSmallIntegerField(default=0)
    chars_extracted = models.PositiveIntegerField(default=0)
    pages = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "knowledge fetch job"

    def __str__(self) -> str:
        return f"{self.url} ({self.status})"
