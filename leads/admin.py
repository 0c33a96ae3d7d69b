"""Tenant admin for leads, appointments and their settings.

Edits go through the services (validation, audit trail, events); the pipeline
history and scoring signals are shown read-only.
"""

from django import forms
from django.contrib import admin, messages
from django.db import connection
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from bizmitra.errors import ApplicationError
from leads.choices import CAPTURABLE_FIELDS, LeadSource, LeadStage
from leads.csv_export import leads_csv_rows
from leads.google_calendar import parse_service_account
from leads.models import (
    Appointment,
    GoogleCalendarSettings,
    Lead,
    LeadSettings,
    LeadSignal,
    LeadTransition,
    Notification,
    Tag,
)
from leads.selectors import lead_settings_get
from leads.services import appointment_cancel, lead_create, lead_transition, lead_update
from leads.services.common import FieldError, normalise_email, normalise_phone

LEAD_FORM_FIELDS = ("name", "email", "phone", "location", "product_interest", "assigned_agent", "tags")


def _in_tenant() -> bool:
    return connection.schema_name != get_public_schema_name()


class TenantOnlyAdmin(admin.ModelAdmin):
    """Hidden on the platform host, whose public schema has no leads tables."""

    def has_module_permission(self, request):
        return _in_tenant() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _in_tenant() and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return _in_tenant() and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return _in_tenant() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _in_tenant() and super().has_delete_permission(request, obj)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LeadTransitionInline(_ReadOnlyInline):
    model = LeadTransition
    fields = readonly_fields = ("at", "from_stage", "to_stage", "actor", "reason")
    ordering = ("-at",)


class LeadSignalInline(_ReadOnlyInline):
    model = LeadSignal
    fields = readonly_fields = ("at", "kind", "points", "detail")
    ordering = ("-at",)


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = (*LEAD_FORM_FIELDS, "follow_up_at", "notes")

    def clean_email(self):
        value = self.cleaned_data.get("email", "")
        try:
            return normalise_email(value) if value else ""
        except FieldError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_phone(self):
        value = self.cleaned_data.get("phone", "")
        if not value:
            return ""
        try:
            phone = normalise_phone(value, region=lead_settings_get().default_region)
        except FieldError as exc:
            raise forms.ValidationError(str(exc)) from exc
        others = Lead.objects.filter(phone=phone).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(f"Lead #{others.first().pk} already has this phone number.")
        return phone

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not cleaned.get("phone") and not cleaned.get("email"):
            raise forms.ValidationError("Give a phone number or an email so the lead can be reached.")
        return cleaned


@admin.register(Lead)
class LeadAdmin(TenantOnlyAdmin):
    form = LeadAdminForm
    list_display = (
        "display_name",
        "phone",
        "email",
        "stage",
        "score",
        "source",
        "assigned_agent",
        "sla_breached_at",
        "follow_up_at",
        "created_at",
    )
    list_filter = (
        "stage",
        "source",
        "assigned_agent",
        "tags",
        ("sla_breached_at", admin.EmptyFieldListFilter),
        "follow_up_state",
        "created_at",
    )
    search_fields = ("name", "email", "phone", "contact__profile_name", "contact__wa_id")
    list_select_related = ("assigned_agent", "contact")
    autocomplete_fields = ("tags",)
    readonly_fields = (
        "stage",
        "stage_changed_at",
        "score",
        "source",
        "contact",
        "sla_breached_at",
        "follow_up_state",
        "follow_up_sent_at",
        "follow_up_error",
        "created_at",
        "updated_at",
    )
    inlines = [LeadTransitionInline, LeadSignalInline]
    actions = ["export_csv", "mark_contacted"]
    date_hierarchy = "created_at"

    @admin.action(description="Export selected leads as CSV")
    def export_csv(self, request, queryset):
        leads = queryset.select_related("assigned_agent", "contact").prefetch_related("tags")
        response = StreamingHttpResponse(leads_csv_rows(leads), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="leads-{timezone.now():%Y%m%d-%H%M}.csv"'
        return response

    @admin.action(description="Move selected new leads to 'contacted'")
    def mark_contacted(self, request, queryset):
        moved = 0
        for lead in queryset.filter(stage=LeadStage.NEW):
            lead_transition(lead=lead, to=LeadStage.CONTACTED, actor=request.user, reason="Marked in admin.")
            moved += 1
        self.message_user(request, f"{moved} lead(s) moved to 'contacted'.", messages.SUCCESS)

    def _fields_from_form(self, form, *, only_changed: bool) -> dict:
        names = form.changed_data if only_changed else form.cleaned_data.keys()
        fields = {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}
        if "tags" in fields:
            fields["tags"] = [tag.name for tag in fields["tags"]]
        return fields

    def save_model(self, request, obj, form, change):
        try:
            if change:
                lead = lead_update(lead=obj, fields=self._fields_from_form(form, only_changed=True), actor=request.user)
            else:
                lead = lead_create(
                    source=LeadSource.MANUAL,
                    fields=self._fields_from_form(form, only_changed=False),
                    actor=request.user,
                )
        except ApplicationError as exc:
            # Form validation mirrors the service's; this catches races (a phone taken meanwhile).
            self.message_user(request, exc.message, messages.ERROR)
            raise
        obj.pk = lead.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # Tags were set by the service in save_model; the inlines are read-only.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class LeadSettingsForm(forms.ModelForm):
    class Meta:
        model = LeadSettings
        fields = (
            "required_fields",
            "first_contact_sla_minutes",
            "default_region",
            "create_leads_from_messages",
            "follow_up_template_name",
            "follow_up_template_language",
            "follow_up_template_params",
        )

    def clean_required_fields(self):
        values = [v.strip() for v in self.cleaned_data["required_fields"] if v.strip()]
        unknown = [v for v in values if v not in CAPTURABLE_FIELDS]
        if unknown:
            raise forms.ValidationError(f"Unknown field(s) {unknown}; use {', '.join(CAPTURABLE_FIELDS)}.")
        return values

    def clean_follow_up_template_params(self):
        values = [v.strip() for v in self.cleaned_data["follow_up_template_params"] if v.strip()]
        unknown = [v for v in values if v not in CAPTURABLE_FIELDS]
        if unknown:
            raise forms.ValidationError(f"Unknown field(s) {unknown}; use {', '.join(CAPTURABLE_FIELDS)}.")
        return values

    def clean_default_region(self):
        return self.cleaned_data["default_region"].upper()


@admin.register(LeadSettings)
class LeadSettingsAdmin(TenantOnlyAdmin):
    form = LeadSettingsForm
    list_display = ("__str__", "required_fields", "first_contact_sla_minutes", "default_region")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not LeadSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1
        super().save_model(request, obj, form, change)


@admin.register(Tag)
class TagAdmin(TenantOnlyAdmin):
    search_fields = ("name",)
    list_display = ("name", "created_at")


@admin.register(Notification)
class NotificationAdmin(TenantOnlyAdmin):
    list_display = ("title", "recipient", "kind", "lead", "read_at", "created_at")
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("title", "body")
    readonly_fields = ("recipient", "kind", "title", "body", "lead", "appointment", "created_at")


@admin.register(Appointment)
class AppointmentAdmin(TenantOnlyAdmin):
    list_display = ("title", "start_at", "end_at", "status", "lead", "meeting_link", "calendar_sync_state")
    list_filter = ("status", "calendar_sync_state", "start_at")
    search_fields = ("title", "lead__name", "lead__phone", "contact__wa_id", "google_event_id")
    list_select_related = ("lead", "contact")
    date_hierarchy = "start_at"
    actions = ["cancel_appointments"]
    readonly_fields = [f.name for f in Appointment._meta.fields]

    def has_add_permission(self, request):
        # Bookings go through the API/engine so the calendar and reminder workflows follow.
        return False

    @admin.action(description="Cancel selected appointments")
    def cancel_appointments(self, request, queryset):
        for appointment in queryset:
            appointment_cancel(appointment=appointment, actor=request.user, reason="Cancelled in admin.")
        self.message_user(request, f"{queryset.count()} appointment(s) cancelled.", messages.SUCCESS)


class GoogleCalendarSettingsForm(forms.ModelForm):
    # Write-only: the stored key is never rendered back into the page.
    service_account_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "Paste the service account key JSON to (re)place it"}),
        required=False,
        help_text="Leave empty to keep the current key.",
    )

    class Meta:
        model = GoogleCalendarSettings
        fields = ("calendar_id", "delegated_user", "is_active")

    def clean_service_account_key(self):
        raw = self.cleaned_data.get("service_account_key", "").strip()
        if not raw:
            if not (self.instance.pk and self.instance.service_account_json):
                raise forms.ValidationError("Paste the service account key JSON.")
            return ""
        try:
            parse_service_account(raw)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return raw


@admin.register(GoogleCalendarSettings)
class GoogleCalendarSettingsAdmin(TenantOnlyAdmin):
    form = GoogleCalendarSettingsForm
    list_display = ("calendar_id", "delegated_user", "is_active", "updated_at")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not GoogleCalendarSettings.objects.exists()

    def save_model(self, request, obj, form, change):
        obj.pk = 1
        if form.cleaned_data.get("service_account_key"):
            obj.service_account_json = form.cleaned_data["service_account_key"]
        super().save_model(request, obj, form, change)
