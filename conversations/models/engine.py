"""Models of the conversation engine (``conversations.engine``): bots, their phone numbers,
working hours, handoff settings and schedules, the audit trails, and the engine's decision log.

Tenant schema, like the rest of the conversations app. Kept apart from
``conversations/models.py`` so the engine's tables have one owner; ``conversations.models``
star-imports this module so Django registers them with the app.

    Bot ──┬── BotPhoneNumber   (phone_number_id unique in the tenant: one bot per number)
          ├── WorkingHours     (weekly schedule: weekday, opens_at, closes_at)
          ├── HandoffSettings  (auto-return to the bot after N idle minutes)
          ├── BotSchedule      (enable_at / disable_at, applied by a periodic task)
          └── BotAuditLog      (who enabled/disabled/changed it, and when)
    EngineDecision  (one per inbound message: what the engine did and why)
    ConversationState (one per contact: where it is in the flows, see templates.services.flow_match)
    HandoffEvent    (a conversation handed to a person, or given back to the bot)
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from conversations.choices import ConversationStatus
from conversations.models.core import Contact, Conversation
from templates.models import STATE_MAX

__all__ = [
    "Bot",
    "BotAuditLog",
    "BotPhoneNumber",
    "BotSchedule",
    "ConversationState",
    "EngineDecision",
    "HandoffEvent",
    "HandoffSettings",
    "HumanTakeover",
    "WorkingHours",
]

DEFAULT_AWAY_MESSAGE = "Thanks for your message! We are closed right now and will get back to you as soon as we open."
DEFAULT_HANDOFF_MESSAGE = "A member of our team will reply here shortly."
DEFAULT_AUTO_RETURN_MINUTES = 60


def validate_timezone(value: str) -> None:
    if not value:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"'{value}' is not a time zone name such as Asia/Kolkata.") from exc


class Bot(models.Model):
    """One automated assistant of the business, serving one or more of its WhatsApp numbers.

    Each switch turns one behaviour off without touching the others: ``is_enabled`` (the
    bot answers at all; schedules and the enable/disable actions flip it), ``auto_response``
    (rules, flows and AI answer customers), ``ai_enabled`` (messages no rule matched go to the
    AI assistant, else get the fallback template), ``lead_capture`` (answers to ``lead:<field>``
    flow states are saved on the contact's lead). ``is_default`` marks the bot that serves the
    tenant's numbers no ``BotPhoneNumber`` names; a tenant without any bot gets one lazily
    (``conversations.engine.bots.bot_for_phone_number``).
    """

    name = models.CharField(max_length=100)
    is_default = models.BooleanField(
        default=False, help_text="Serves every WhatsApp number of the business that no other bot serves."
    )
    is_enabled = models.BooleanField(default=True, help_text="Off: the bot answers nothing.")
    auto_response = models.BooleanField(default=True, help_text="Off: rules, flows and AI answer nothing.")
    ai_enabled = models.BooleanField(
        "AI answers", default=True, help_text="Off: messages no rule matched get the fallback template."
    )
    lead_capture = models.BooleanField(
        default=True, help_text="Save answers given in 'lead:<field>' flow states (e.g. lead:email) on the lead."
    )
    system_prompt = models.TextField(
        "system prompt override",
        blank=True,
        default="",
        help_text="Instructions for the AI assistant of this bot; empty: the tenant's AI settings.",
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        validators=[validate_timezone],
        help_text="IANA name such as Asia/Kolkata; empty: the business's.",
    )
    working_hours_enabled = models.BooleanField(
        default=False, help_text="Outside the weekly hours below, answer with the away message only."
    )
    away_message = models.TextField(default=DEFAULT_AWAY_MESSAGE, max_length=4096)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_bot")
        ]

    def __str__(self) -> str:
        return self.name


class BotPhoneNumber(models.Model):
    """A WhatsApp number of the business (``tenants.PhoneNumber.phone_number_id``) served by a bot.

    Unique in the tenant, so a number is served by one bot; numbers without a row are served
    by the default bot.
    """

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="phone_numbers")
    phone_number_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["phone_number_id"]
        verbose_name = "bot phone number"

    def __str__(self) -> str:
        return f"{self.phone_number_id} → {self.bot}"


class WorkingHours(models.Model):
    """One open interval of a bot's weekly schedule, in the bot's time zone.

    ``closes_at`` at or before ``opens_at`` means the interval runs past midnight into the
    next day (22:00–02:00); equal times mean open all day. Several rows per weekday are
    allowed (a lunch break is two rows).
    """

    class Weekday(models.IntegerChoices):
        MONDAY = 0
        TUESDAY = 1
        WEDNESDAY = 2
        THURSDAY = 3
        FRIDAY = 4
        SATURDAY = 5
        SUNDAY = 6

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        ordering = ["bot_id", "weekday", "opens_at"]
        verbose_name = "working hours"
        verbose_name_plural = "working hours"
        constraints = [models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="weekday_0_to_6")]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"


class HandoffSettings(models.Model):
    """How a bot hands conversations to people and takes them back.

    ``auto_return_after_minutes``: a handed-off conversation goes back to the bot after this
    long without agent activity (0: only when someone returns it). ``handoff_message`` is
    sent to the customer when a rule or the AI hands over without saying anything itself.
    Read with ``conversations.engine.handoff.handoff_settings_for`` (defaults when missing).
    """

    bot = models.OneToOneField(Bot, on_delete=models.CASCADE, related_name="handoff_settings")
    auto_return_after_minutes = models.PositiveIntegerField(
        default=DEFAULT_AUTO_RETURN_MINUTES,
        help_text="Give the conversation back to the bot after this many minutes without agent activity; 0: never.",
    )
    handoff_message = models.TextField(max_length=4096, blank=True, default=DEFAULT_HANDOFF_MESSAGE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "handoff settings"
        verbose_name_plural = "handoff settings"

    def __str__(self) -> str:
        return f"Handoff settings of {self.bot}"


class BotSchedule(models.Model):
    """Enable and/or disable a bot at given times; applied by the ``engine: bot schedules`` task.

    Either time may be empty. Each is applied once (``*_applied_at`` records when), in time
    order, each with a ``BotAuditLog`` row by "schedule".
    """

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="schedules")
    enable_at = models.DateTimeField(null=True, blank=True)
    disable_at = models.DateTimeField(null=True, blank=True)
    enable_applied_at = models.DateTimeField(null=True, blank=True, editable=False)
    disable_applied_at = models.DateTimeField(null=True, blank=True, editable=False)
    note = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(enable_at__isnull=False) | Q(disable_at__isnull=False), name="bot_schedule_has_a_time"
            )
        ]

    def __str__(self) -> str:
        parts = []
        if self.enable_at:
            parts.append(f"enable {self.enable_at:%Y-%m-%d %H:%M}")
        if self.disable_at:
            parts.append(f"disable {self.disable_at:%Y-%m-%d %H:%M}")
        return f"{self.bot}: " + ", ".join(parts)


class BotAuditLog(models.Model):
    """One change to a bot, by a person, the API, a schedule or the system.

    ``actor`` is the person when there is one; ``actor_label`` always names who did it
    (a username, ``api-key:<client code>``, ``schedule``, ``system``). Kept when the bot is
    deleted (``bot_name`` remembers it).
    """

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"
        UPDATED = "updated", "Settings changed"
        SCHEDULED = "scheduled", "Schedule added"

    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_log")
    bot_name = models.CharField(max_length=100, blank=True, default="")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=150, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "bot audit entry"
        verbose_name_plural = "bot audit log"

    def __str__(self) -> str:
        return f"{self.bot_name}: {self.action} by {self.actor_label}"


class EngineDecision(models.Model):
    """What the conversation engine did with one inbound message, and why (analytics, debugging).

    One per message: the row is inserted first as the claim (``path=pending``) so a
    replayed task never answers twice, and completed when the engine is done.
    ``latency_ms`` is the engine's own time for the message, AI call included.
    """

    class Path(models.TextChoices):
        PENDING = "pending", "In progress"
        RULE = "rule", "Rule"
        FLOW = "flow", "Menu / flow step"
        BUILTIN = "builtin", "Built-in intent"
        AI = "ai", "AI assistant"
        FALLBACK = "fallback", "Fallback"
        AWAY = "away", "Outside working hours"
        SILENT_HANDOFF = "silent_handoff", "Silent: a person has taken over"
        OPTED_OUT = "opted_out", "Silent: contact opted out"
        BOT_OFF = "bot_off", "Silent: bot disabled / auto-response off"
        IGNORED = "ignored", "Ignored (reaction, system message)"

    message = models.OneToOneField("conversations.Message", on_delete=models.CASCADE, related_name="engine_decision")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="engine_decisions"
    )
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    path = models.CharField(max_length=16, choices=Path.choices, default=Path.PENDING, db_index=True)
    rule = models.ForeignKey(
        "message_templates.FlowRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule_name = models.CharField(max_length=100, blank=True, default="")
    template_key = models.CharField(max_length=16, blank=True, default="")
    reason = models.CharField(max_length=500, blank=True, default="")
    ai_call = models.ForeignKey(
        "conversations.AICallLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply_message_ids = models.JSONField(default=list, blank=True)
    # The start of the closed window an away message answered (sent at most once per window).
    away_window_start = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "engine decision"
        indexes = [models.Index(fields=["path", "created_at"])]

    def __str__(self) -> str:
        return f"{self.path} for message {self.message_id}"


class HandoffEvent(models.Model):
    """A conversation handed to a person, or given back to the bot: who, when, why."""

    class Action(models.TextChoices):
        HANDOFF = "handoff", "Handed to a person"
        RETURN = "return", "Returned to the bot"

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="handoff_events"
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    actor = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=150, blank=True, default="")
    reason = models.CharField(max_length=255, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"


class HumanTakeover(Conversation):
    """Conversations as the team sees them for takeover: hand to a person, give back to the bot.

    A proxy (no table): the admin page with the handoff / return-to-bot actions.
    """

    class Meta:
        proxy = True
        verbose_name = "human takeover"
        verbose_name_plural = "human takeover"

    @property
    def is_handed_off(self) -> bool:
        return self.status == ConversationStatus.HANDED_OFF


class ConversationState(models.Model):
    """Where a contact is in the flows: the last template sent to them and a state string.

    ``last_template`` resolves replies that carry no known payload id (e.g. a button title
    typed back); ``state`` is free-form (``"awaiting_date"``) and gates flow rules with a
    ``required_state``. Runtime state of the engine, so it lives here, not in ``templates``
    (which sits below conversations and holds only the flows' configuration). Written only by
    ``conversations.engine.flow_state.conversation_state_advance``.
    """

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="flow_state")
    last_template = models.ForeignKey(
        "message_templates.MessageTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=STATE_MAX, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.contact}: {self.state or '-'}"
