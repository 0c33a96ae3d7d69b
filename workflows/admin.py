"""Tenant admin: workflow rules, their jobs (read-only, cancel/retry), SMTP settings."""

from django import forms
from django.contrib import admin, messages
from django.db import connection
from django_tenants.utils import get_public_schema_name

from bizmitra.errors import ApplicationError
from workflows.choices import JobStatus, StandardTrigger
from workflows.models import CommunicationWorkflow, TenantEmailSettings, WorkflowJob, WorkflowTrigger
from workflows.services import workflow_job_retry, workflow_jobs_cancel


class TenantOnlyAdmin(admin.ModelAdmin):
    """Hidden in the platform admin: these tables exist only in tenant schemas."""

    def has_module_permission(self, request):
        return connection.schema_name != get_public_schema_name() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return connection.schema_name != get_public_schema_name() and super().has_view_permission(request, obj)


class WorkflowForm(forms.ModelForm):
    tenant_template_id = forms.TypedChoiceField(
        label="Tenant template",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="Or send one of your own templates (WhatsApp; leave the template name and body empty).",
    )

    def __init__(self, *args, **kwargs):
        from templates.models import MessageTemplate

        super().__init__(*args, **kwargs)
        # Read per form: the choices are this tenant's templates (the admin runs in its schema).
        templates = MessageTemplate.objects.order_by("name", "id").only("pk", "name", "key")
        self.fields["tenant_template_id"].choices = [("", "—")] + [(t.pk, f"{t.name} ({t.key})") for t in templates]

    class Meta:
        model = CommunicationWorkflow
        fields = [
            "name",
            "trigger",
            "channel",
            "template_name",
            "language",
            "parameter_mapping",
            "body",
            "email_subject",
            "tenant_template_id",
            "delay_minutes",
            "max_attempts",
            "retry_base_seconds",
            "is_active",
        ]
        help_texts = {
            "trigger": "Standard: " + ", ".join(StandardTrigger.values) + "; or your own slug.",
            "template_name": "Meta-approved template (required to reach people outside the 24-hour window).",
            "body": "Free text with {{1}} or {{name}} placeholders: WhatsApp inside the window, or the email body.",
            "delay_minutes": "Minutes after the trigger's baseTime; negative = before (e.g. -60 for 1 hour before).",
        }


@admin.register(CommunicationWorkflow)
class CommunicationWorkflowAdmin(TenantOnlyAdmin):
    form = WorkflowForm
    list_display = ("name", "trigger", "channel", "template_name", "language", "delay_minutes", "is_active")
    list_filter = ("channel", "is_active", "trigger")
    search_fields = ("name", "trigger", "template_name")


@admin.action(description="Cancel selected pending jobs")
def cancel_jobs(modeladmin, request, queryset):
    ids = workflow_jobs_cancel(job_ids=queryset.values_list("pk", flat=True), reason="Cancelled in the admin.")
    modeladmin.message_user(request, f"{len(ids)} pending job(s) cancelled.")


@admin.action(description="Retry selected failed jobs now")
def retry_jobs(modeladmin, request, queryset):
    retried = 0
    for job_id in queryset.filter(status=JobStatus.FAILED).values_list("pk", flat=True):
        try:
            workflow_job_retry(job_id=job_id)
            retried += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, exc.message, level=messages.WARNING)
    modeladmin.message_user(request, f"{retried} failed job(s) queued again.")


@admin.register(WorkflowJob)
class WorkflowJobAdmin(TenantOnlyAdmin):
    list_display = (
        "id",
        "trigger",
        "channel",
        "recipient_phone",
        "status",
        "due_at",
        "attempts",
        "message_id",
        "callback_state",
    )
    list_filter = ("status", "channel", "callback_state", "trigger")
    search_fields = ("=id", "recipient_phone", "recipient_email", "module_id", "trigger")
    date_hierarchy = "due_at"
    actions = [cancel_jobs, retry_jobs]
    list_select_related = ("workflow",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewable, and actions run through services; rows are never edited by hand.
        return False


class WorkflowJobInline(admin.TabularInline):
    model = WorkflowJob
    fields = ("id", "workflow", "status", "due_at", "attempts", "callback_state")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WorkflowTrigger)
class WorkflowTriggerAdmin(TenantOnlyAdmin):
    list_display = ("id", "trigger", "phone", "idempotency_key", "created_at")
    search_fields = ("trigger", "phone", "idempotency_key")
    readonly_fields = ("trigger", "phone", "idempotency_key", "request_fingerprint", "response", "created_at")
    inlines = [WorkflowJobInline]

    def has_add_permission(self, request):
        return False


class TenantEmailSettingsForm(forms.ModelForm):
    # Write-only: the stored password never renders back into the page.
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False), required=False, help_text="Leave empty to keep the current one."
    )

    class Meta:
        model = TenantEmailSettings
        fields = ["host", "port", "username", "password", "use_tls", "use_ssl", "from_email", "is_active"]

    def clean(self):
        data = super().clean()
        if data.get("use_tls") and data.get("use_ssl"):
            raise forms.ValidationError("Choose STARTTLS or implicit TLS, not both.")
        return data

    def save(self, commit=True):
        if not self.cleaned_data.get("password") and self.instance.pk:
            self.instance.password = TenantEmailSettings.objects.get(pk=self.instance.pk).password
        return super().save(commit=commit)


@admin.register(TenantEmailSettings)
class TenantEmailSettingsAdmin(TenantOnlyAdmin):
    form = TenantEmailSettingsForm
    list_display = ("from_email", "host", "port", "use_tls", "use_ssl", "is_active")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not TenantEmailSettings.objects.exists()
