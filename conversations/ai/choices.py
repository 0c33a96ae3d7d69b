from django.db import models


class CallOutcome(models.TextChoices):
    OK = "ok", "Answered"
    FALLBACK = "fallback", "Fallback (no AI call)"
    ERROR = "error", "AI error"
    TIMEOUT = "timeout", "AI timeout"
    REJECTED_TOOL = "rejected_tool", "Answered, a tool call was rejected"


class FallbackReason(models.TextChoices):
    BUDGET_EXHAUSTED = "budget_exhausted", "Daily token budget exhausted"
    CONTACT_HOURLY_CAP = "contact_hourly_cap", "Per-contact hourly cap reached"
    AI_TIMEOUT = "ai_timeout", "AI endpoint timed out"
    AI_ERROR = "ai_error", "AI endpoint failed"
    AI_DISABLED = "ai_disabled", "AI assistant disabled"
    # No key and no base URL of our own: calling would only fail (conversations.ai.selectors).
    AI_OFF_NO_ENDPOINT = "ai_off_no_endpoint", "AI is off: no key or base URL configured"


class ToolOutcome(models.TextChoices):
    EXECUTED = "executed", "Executed"
    REJECTED = "rejected", "Rejected (not executed)"
    ERROR = "error", "Failed while executing"


class KnowledgeJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
