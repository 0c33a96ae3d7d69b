"""Choices of the message-template and flow models (values are stored; keep them stable)."""

from django.db import models


class TemplateKind(models.TextChoices):
    TEXT = "text", "Text"
    INTERACTIVE_BUTTON = "interactive_button", "Reply buttons (1-3)"
    INTERACTIVE_LIST = "interactive_list", "List menu"
    META_TEMPLATE = "meta_template", "Meta-approved template"


class ParameterFormat(models.TextChoices):
    """How a Meta template names its variables: ``{{first_name}}`` or ``{{1}}``."""

    NAMED = "named", "Named"
    POSITIONAL = "positional", "Positional"


class MatchType(models.TextChoices):
    CONTAINS = "contains", "Text contains a keyword"
    EQUALS = "equals", "Text equals a keyword"
    STARTS_WITH = "starts_with", "Text starts with a keyword"
    REGEX = "regex", "Text matches a regular expression"
    PAYLOAD = "payload", "Button or list choice (payload id)"


TEXT_MATCH_TYPES = frozenset({MatchType.CONTAINS, MatchType.EQUALS, MatchType.STARTS_WITH, MatchType.REGEX})


class FlowAction(models.TextChoices):
    SEND_TEMPLATE = "send_template", "Send a template"
    SET_STATE = "set_state", "Set the conversation state"
    HANDOFF = "handoff", "Hand over to a human"
    AI = "ai", "Hand to the AI assistant"


NO_ACTION = "none"
"""``FlowDecision.action`` when nothing matched and the tenant has no fallback template."""


class BuiltinIntent(models.TextChoices):
    GREETING = "greeting", "Greeting"
    PRICING = "pricing", "Pricing"
    DEMO = "demo", "Demo request"
    SUPPORT = "support", "Support"
    OPT_OUT = "opt_out", "Opt-out (stop)"
    OPT_IN = "opt_in", "Opt-in (start)"
    BYE = "bye", "Goodbye"


class SyncJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
