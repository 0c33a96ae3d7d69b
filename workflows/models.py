import uuid

from django.db import models
from django.db.models import Q

from bizmitra.crypto import EncryptedTextField
from workflows.choices import CallbackState, Channel, JobStatus
from workflows.validators import validate_language_code, validate_template_name, validate_trigger_slug


class CommunicationWorkflow(models.Model):
    """A tenant's rule: when ``trigger`` fires, send this message on ``channel`` after ``delay_minutes``.

    The message is a Meta-approved template (name + language + parameter mapping,
    the only kind WhatsApp delivers outside the 24-hour window), or a free-text
    ``body`` (WhatsApp inside the window, or an email with ``email_subject``), or one of
    the tenant's own templates (``tenant_template_id``, rendered by ``templates.rendering``).
    """

    name = models.CharField(max_length=200)
    trigger = models.CharField(max_length=64, validators=[validate_trigger_slug])
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WHATSAPP)
    template_name = models.CharField(max_length=512, blank=True, default="", validators=[validate_template_name])
    language = models.CharField(max_length=16, blank=True, default="en_US", validators=[validate_language_code])
    # How trigger variables fill the template: {"header": [ref], "body": [ref, ...],
    # "buttons": [{"index": 0, "sub_type": "url", "parameters": [ref]}]}; a ref is a list
    # index or a key of the variables object. Empty: every variable fills the body, in order.
    parameter_mapping = models.JSONField(default=dict, blank=True)
    # Free text with {{1}} / {{name}} placeholders: the WhatsApp text (inside the window) or the email body.
    body = models.TextField(blank=True, default="")
    email_subject = models.CharField(max_length=255, blank=True, default="")
    # A templates.MessageTemplate of this tenant (same schema), checked by workflow_errors; a plain
    # id rather than a ForeignKey so deleting a template never deletes rules (their jobs then fail).
    tenant_template_id = models.PositiveBigIntegerField(null=True, blank=True)
    # Relative to the trigger's baseTime (or to the trigger call); negative = before it.
    delay_minutes = models.IntegerField(default=0)
    # Empty: the WORKFLOWS_MAX_ATTEMPTS / WORKFLOWS_RETRY_BASE_SECONDS settings.
    max_attempts = models.PositiveSmallIntegerField(null=True, blank=True)
    retry_base_seconds = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["trigger", "name"]
        indexes = [models.Index(fields=["trigger", "is_active"], name="wf_trigger_active")]

    def __str__(self) -> str:
        return f"{self.name} ({self.trigger} → {self.channel})"

    def clean(self):
        from workflows.services.rules import workflow_errors

        errors = workflow_errors(
            channel=self.channel,
            template_name=self.template_name,
            body=self.body,
            email_subject=self.email_subject,
            tenant_template_id=self.tenant_template_id,
            parameter_mapping=self.parameter_mapping,
        )
        if errors:
            from django.core.exceptions import ValidationError

            raise ValidationError(errors)


class WorkflowTrigger(models.Model):
    """One firing of a trigger (API or CLI): the idempotency record and the response it produced."""

    trigger = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # SHA-256 of the normalised request: a repeated key with a different request is a conflict.
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    phone = models.CharField(max_length=20, blank=True, default="")
    response = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.trigger} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class WorkflowJob(models.Model):
    """One message a workflow will send (or sent): a durable, claimable row.

    PostgreSQL is the source of truth; Celery only carries jobs due within the
    hand-off horizon (see workflows.conf). ``due_at`` is when the message was
    meant to go; ``next_run_at`` is when the next attempt may start (later than
    ``due_at`` after a failed attempt). Every state change is a conditional
    UPDATE (pending→running with a fresh ``claim_token``), so duplicate Celery
    deliveries are harmless.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger_event = models.ForeignKey(WorkflowTrigger, on_delete=models.CASCADE, related_name="jobs")
    workflow = models.ForeignKey(
        CommunicationWorkflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    trigger = models.CharField(max_length=64)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient_phone = models.CharField(max_length=20, blank=True, default="")
    recipient_email = models.EmailField(blank=True, default="")
    conversation_id = models.BigIntegerField(null=True, blank=True)
    # What is sent, rendered when the trigger fired: {"type": "template", "template": {...}},
    # {"type": "text", "text": {"body": ...}} or {"type": "email", "subject": ..., "body": ...}.
    content = models.JSONField(default=dict)
    variables = models.JSONField(default=list, blank=True)
    base_time = models.DateTimeField(null=True, blank=True)
    delay_seconds = models.IntegerField(default=0)
    due_at = models.DateTimeField()
    next_run_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    retry_base_seconds = models.FloatField(default=5)
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # When a Celery message was last handed over for this job (null: none yet).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="First attempt's start.")
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    message_id = models.BigIntegerField(null=True, blank=True, help_text="conversations.Message queued by this job.")
    callback_url = models.URLField(max_length=2048, blank=True, default="")
    callback_metadata = models.JSONField(default=dict, blank=True)
    # callback_metadata.moduleId, indexed: cancelling/rescheduling finds an appointment's reminders by it.
    module_id = models.CharField(max_length=255, blank=True, default="")
    callback_state = models.CharField(max_length=16, choices=CallbackState.choices, default=CallbackState.NONE)
    callback_attempts = models.PositiveSmallIntegerField(default=0)
    callback_next_attempt_at = models.DateTimeField(null=True, blank=True)
    callback_claimed_at = models.DateTimeField(null=True, blank=True)
    callback_last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    callback_last_error = models.TextField(blank=True, default="")
    callback_delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["next_run_at"], name="wfjob_pending_run", condition=Q(status="pending")),
            models.Index(fields=["claimed_at"], name="wfjob_running_claim", condition=Q(status="running")),
            models.Index(fields=["module_id", "status"], name="wfjob_module_status"),
            models.Index(
                fields=["callback_next_attempt_at"],
                name="wfjob_callback_open",
                condition=Q(callback_state__in=["pending", "delivering"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trigger} → {self.recipient_phone or self.recipient_email} ({self.status})"


class TenantEmailSettings(models.Model):
    """The tenant's own SMTP server, used by email-channel workflows (one row per tenant schema)."""

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=587)
    username = models.CharField(max_length=255, blank=True, default="")
    password = EncryptedTextField(blank=True, default="")
    use_tls = models.BooleanField("STARTTLS", default=True)
    use_ssl = models.BooleanField("implicit TLS (SMTPS)", default=False)
    from_email = models.EmailField()
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "email settings"
        verbose_name_plural = "email settings"

    def __str__(self) -> str:
        return f"{self.from_email} via {self.host}:{self.port}"
