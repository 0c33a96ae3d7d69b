import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, FSMModelMixin, transition

from bizmitra.crypto import EncryptedTextField
from leads.choices import (
    OPEN_STAGES,
    AppointmentStatus,
    CalendarSyncState,
    FollowUpState,
    LeadSource,
    LeadStage,
    NotificationKind,
    SignalKind,
)


def _default_required_fields() -> list[str]:
    return ["name", "phone", "product_interest"]


class LeadSettings(models.Model):
    """How this tenant runs its pipeline: what makes a lead qualified, SLAs, follow-ups.

    One row per tenant schema (``pk=1``); read it with ``leads.selectors.lead_settings_get``.
    """

    required_fields = ArrayField(
        models.CharField(max_length=32),
        default=_default_required_fields,
        help_text="A lead moves to 'qualified' by itself once all of these are filled in "
        "(any of: name, email, phone, location, product_interest).",
    )
    first_contact_sla_minutes = models.PositiveIntegerField(
        default=30, help_text="Flag leads still 'new' this long after they arrived (0 turns the check off)."
    )
    default_region = models.CharField(
        max_length=2, default="IN", help_text="ISO country code for phone numbers typed without +country code."
    )
    # Off by default: not every person who messages the business is a sales lead
    # (existing customers, support questions); the engine's capture_lead tool and
    # rule flows create leads when there is something to capture.
    create_leads_from_messages = models.BooleanField(
        default=False, help_text="Open a lead for every WhatsApp contact who writes in, not only when one is captured."
    )
    follow_up_template_name = models.CharField(
        max_length=512, blank=True, default="", help_text="Approved WhatsApp template sent at a lead's follow-up time."
    )
    follow_up_template_language = models.CharField(max_length=16, default="en")
    follow_up_template_params = ArrayField(
        models.CharField(max_length=32),
        default=list,
        blank=True,
        help_text="Lead fields filling the template body's {{1}}, {{2}}, … in order (e.g. name).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "lead settings"
        verbose_name_plural = "lead settings"

    def __str__(self) -> str:
        return "Lead settings"


class Tag(models.Model):
    """A label agents put on leads ("wholesale", "diwali-campaign")."""

    name = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Lead(FSMModelMixin, models.Model):
    """A prospective customer moving through the sales pipeline.

    At most one per WhatsApp contact; leads from the website or the trigger API
    may have only a phone number until the person writes in. ``stage`` changes
    only through ``leads.services.lead_transition`` (every change is a
    ``LeadTransition``); ``score`` is the sum of the lead's ``LeadSignal`` points.
    """

    contact = models.OneToOneField(
        "conversations.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="lead"
    )
    name = models.CharField(max_length=200, blank=True, default="")
    email = models.EmailField(max_length=254, blank=True, default="")
    # E.164 ("+919876543210"), or empty.
    phone = models.CharField(max_length=20, blank=True, default="")
    location = models.CharField(max_length=200, blank=True, default="")
    product_interest = models.CharField(max_length=255, blank=True, default="")
    source = models.CharField(max_length=16, choices=LeadSource.choices)
    stage = FSMField(max_length=16, choices=LeadStage.choices, default=LeadStage.NEW, protected=True)
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    assigned_agent = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_leads"
    )
    score = models.IntegerField(default=0)
    notes = models.TextField(blank=True, default="")
    tags = models.ManyToManyField(Tag, blank=True, related_name="leads")
    # Set once by the first-contact SLA check when the lead sat in 'new' too long.
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    follow_up_at = models.DateTimeField(null=True, blank=True)
    follow_up_state = models.CharField(max_length=16, choices=FollowUpState.choices, blank=True, default="")
    follow_up_claimed_at = models.DateTimeField(null=True, blank=True)
    follow_up_sent_at = models.DateTimeField(null=True, blank=True)
    follow_up_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    follow_up_error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One lead per person: website/trigger leads are matched to their WhatsApp contact by phone.
            models.UniqueConstraint(fields=["phone"], condition=~Q(phone=""), name="lead_phone_unique"),
        ]
        indexes = [
            models.Index(fields=["stage", "created_at"]),
            models.Index(fields=["follow_up_state", "follow_up_at"], name="lead_follow_up_due"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.contact_id and self.contact.profile_name:
            return self.contact.profile_name
        return self.phone or self.email or f"lead {self.pk}"

    @property
    def recipient(self) -> str:
        """Where WhatsApp messages to this lead go: the contact's id, else the captured phone."""
        if self.contact_id:
            return self.contact.recipient
        return self.phone

    # Pipeline transitions (django-fsm): the legal moves, and nothing else.
    @transition(field=stage, source=LeadStage.NEW, target=LeadStage.CONTACTED)
    def mark_contacted(self) -> None:
        pass

    @transition(field=stage, source=[LeadStage.NEW, LeadStage.CONTACTED], target=LeadStage.QUALIFIED)
    def qualify(self) -> None:
        pass

    @transition(field=stage, source=LeadStage.QUALIFIED, target=LeadStage.CONVERTED)
    def convert(self) -> None:
        pass

    @transition(field=stage, source=LeadStage.CONVERTED, target=LeadStage.PAID)
    def mark_paid(self) -> None:
        pass

    @transition(field=stage, source=list(OPEN_STAGES), target=LeadStage.LOST)
    def mark_lost(self) -> None:
        pass


class LeadTransition(models.Model):
    """One move of a lead through the pipeline: who or what moved it, when and why."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=16, choices=LeadStage.choices)
    to_stage = models.CharField(max_length=16, choices=LeadStage.choices)
    by_user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # "owner@alpha.test", "api-key:ALPHA", "system:auto-qualify", …
    actor = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_stage} → {self.to_stage}"


class LeadSignal(models.Model):
    """One interaction that moved a lead's score, with the points it gave.

    ``dedupe_key`` makes recording idempotent ("msg:42" for a message that was
    already counted, "pricing_intent" for a once-per-lead signal).
    """

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="signals")
    kind = models.CharField(max_length=32, choices=SignalKind.choices)
    points = models.IntegerField()
    detail = models.CharField(max_length=255, blank=True, default="")
    dedupe_key = models.CharField(max_length=64, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "dedupe_key"], condition=~Q(dedupe_key=""), name="lead_signal_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d}"


class Notification(models.Model):
    """Something a dashboard user should look at (a qualified lead, a missed SLA)."""

    recipient = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="lead_notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    appointment = models.ForeignKey(
        "leads.Appointment", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.title


class GoogleCalendarSettings(models.Model):
    """The tenant's Google Calendar: appointments become events (with a Meet link) on it.

    One row per tenant schema (``pk=1``). The service account must have write
    access to ``calendar_id`` (share the calendar with its ``client_email``).
    """

    calendar_id = models.CharField(max_length=255, help_text="e.g. primary, or bookings@acme.com")
    service_account_json = EncryptedTextField(help_text="The service account key file (JSON).")
    # Only for Google Workspace domain-wide delegation: act as this user.
    delegated_user = models.EmailField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Google Calendar settings"
        verbose_name_plural = "Google Calendar settings"

    def __str__(self) -> str:
        return f"Google Calendar {self.calendar_id}"


def _event_uid() -> str:
    # Google accepts client-chosen event ids of base32hex characters (a-v, 0-9);
    # hex is a subset, so a retried insert after a crash hits 409, not a duplicate event.
    return uuid.uuid4().hex


class Appointment(models.Model):
    """A meeting booked with a lead or contact, mirrored to Google Calendar when configured.

    Calendar sync is versioned: every change that Google should see bumps
    ``calendar_sync_version``; the sync task brings Google up to it and records
    ``calendar_synced_version``.
    """

    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="appointments")
    contact = models.ForeignKey(
        "conversations.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="appointments"
    )
    title = models.CharField(max_length=200, default="Appointment")
    notes = models.TextField(blank=True, default="")
    start_at = models.DateTimeField(db_index=True)
    end_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)
    meeting_link = models.URLField(max_length=500, blank=True, default="")
    cancel_reason = models.CharField(max_length=500, blank=True, default="")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    booked_by = models.CharField(max_length=150, blank=True, default="")
    calendar_event_uid = models.CharField(max_length=64, default=_event_uid, editable=False)
    google_event_id = models.CharField(max_length=1024, blank=True, default="")
    calendar_sync_state = models.CharField(
        max_length=16, choices=CalendarSyncState.choices, blank=True, default=CalendarSyncState.NOT_CONFIGURED
    )
    calendar_sync_version = models.PositiveIntegerField(default=0)
    calendar_synced_version = models.PositiveIntegerField(default=0)
    calendar_sync_attempts = models.PositiveSmallIntegerField(default=0)
    calendar_next_attempt_at = models.DateTimeField(null=True, blank=True)
    calendar_sync_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(end_at__gt=F("start_at")), name="appointment_ends_after_start"),
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(contact__isnull=False), name="appointment_has_person"
            ),
        ]
        indexes = [models.Index(fields=["calendar_sync_state", "calendar_next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.title} at {self.start_at:%Y-%m-%d %H:%M}"

    @property
    def recipient(self) -> str:
        if self.lead_id:
            return self.lead.recipient
        return self.contact.recipient if self.contact_id else ""


class AnalyticsDay(models.Model):
    """One tenant-local day of message, answer and delivery counts, kept by the roll-up task
    (``leads.analytics.services.analytics_days_roll_up``).

    Analytics over a long range reads one row per past day instead of every message (measured
    in ``bench/analytics.py``: a 90-day range over a million raw rows misses the 300 ms
    target). Rows are per time zone: after a tenant changes its zone the old rows no longer
    match and those days are read from raw rows until rolled up again. Today is always live.
    """

    day = models.DateField()
    timezone = models.CharField(max_length=64)
    inbound = models.PositiveIntegerField(default=0)
    outbound = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    read = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    by_humans = models.PositiveIntegerField(default=0)
    # Engine decisions by path ({"builtin": 3, "rule": 5, ...}).
    paths = models.JSONField(default=dict, blank=True)
    # Failed outbound messages by Meta error: [{"code": 131047, "title": "...", "count": 2}].
    failures = models.JSONField(default=list, blank=True)
    # Conversations started, time histograms, hours, AI per bot (leads.analytics.engagement).
    started = models.PositiveIntegerField(default=0)
    # {"bot": [n per bucket of BUCKET_EDGES], "human": [...], "resolution": [...]}.
    times = models.JSONField(default=dict, blank=True)
    # Inbound messages in each of the day's 24 local hours.
    hours = models.JSONField(default=list, blank=True)
    # {"<bot id>" | "none": [calls, refused, prompt_tokens, completion_tokens]}.
    ai = models.JSONField(default=dict, blank=True)
    # Rows of an older format lack figures added since: they are read as not rolled up.
    format = models.PositiveSmallIntegerField(default=1)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["day", "timezone"], name="analytics_day_once")]

    def __str__(self) -> str:
        return f"analytics {self.day} ({self.timezone})"
