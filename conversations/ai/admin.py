"""Tenant admin of the AI assistant: its settings (one page), the call log, knowledge fetch jobs.

Imported by ``conversations/admin.py``. Tenant tables do not exist in the public schema,
so these pages hide on the platform host.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from bizmitra.admin_sites import TenantOnlyAdmin
from conversations.ai.knowledge import FetchRefused, knowledge_fetch_start, url_check
from conversations.ai.selectors import AI_OFF_MESSAGE, ai_endpoint_configured
from conversations.ai.services import AI_SETTINGS_FIELDS, ai_settings_update
from conversations.models import AIAssistantSettings, AICallLog, AIToolCallLog, KnowledgeFetchJob


class AIAssistantSettingsForm(forms.ModelForm):
    api_key = forms.CharField(
        label="Own API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Your own key for the AI provider. Leave blank to keep the current one.",
    )
    clear_api_key = forms.BooleanField(label="Remove own API key", required=False)
    fetch_url = forms.CharField(
        label="Fetch knowledge from website",
        required=False,
        max_length=2000,
        help_text="A page of your website (http/https). Up to 10 pages of the same site are read in the "
        "background and replace the knowledge above; the result shows under Knowledge fetch jobs.",
    )

    class Meta:
        model = AIAssistantSettings
        fields = [*AI_SETTINGS_FIELDS]

    def clean_fetch_url(self):
        url = self.cleaned_data["fetch_url"].strip()
        if url:
            from django.conf import settings

            try:
                url_check(url, allow_private=settings.KNOWLEDGE_FETCH_ALLOW_PRIVATE)
            except FetchRefused as exc:
                raise forms.ValidationError(str(exc)) from exc
        return url


@admin.register(AIAssistantSettings)
class AIAssistantSettingsAdmin(TenantOnlyAdmin):
    form = AIAssistantSettingsForm
    readonly_fields = ["knowledge_source_url", "knowledge_fetched_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["enabled", "model", "temperature", "timeout_seconds"]}),
        ("What the assistant knows", {"fields": ["system_prompt", "business_profile", "knowledge"]}),
        ("Website", {"fields": ["fetch_url", "knowledge_source_url", "knowledge_fetched_at"]}),
        ("Cost limits", {"fields": ["daily_token_budget", "per_contact_hourly_cap"]}),
        ("Provider key", {"fields": ["api_key", "clear_api_key"]}),
        (None, {"fields": ["updated_at"]}),
    ]

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The AI settings page is where staff look when answers do not come from the AI.
        if request.method == "GET" and not ai_endpoint_configured():
            messages.warning(
                request,
                f"{AI_OFF_MESSAGE}. Enter your own key below, or set OPENAI_API_KEY / OPENAI_BASE_URL "
                "(any OpenAI-compatible server, local ones too) on the server and restart it.",
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        # One row per tenant: the list is just a door to it.
        config = ai_settings_update()
        return HttpResponseRedirect(reverse("admin:conversations_aiassistantsettings_change", args=[config.pk]))

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in AI_SETTINGS_FIELDS}
        changes.pop("api_key", None)
        if form.cleaned_data.get("clear_api_key"):
            changes["api_key"] = ""
        elif form.cleaned_data.get("api_key"):
            changes["api_key"] = form.cleaned_data["api_key"]
        ai_settings_update(**changes)
        if form.cleaned_data.get("fetch_url"):
            job = knowledge_fetch_start(url=form.cleaned_data["fetch_url"], requested_by=request.user)
            messages.info(request, f"Fetching {job.url} in the background (job {job.pk}).")


class AIToolCallInline(admin.TabularInline):
    model = AIToolCallLog
    extra = 0
    can_delete = False
    fields = ["name", "outcome", "reason", "arguments", "result", "tool_call_id"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AICallLog)
class AICallLogAdmin(TenantOnlyAdmin):
    list_display = [
        "created_at",
        "contact",
        "outcome",
        "reason",
        "reply_kind",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "rounds",
    ]
    list_filter = ["outcome", "reason", "reply_kind", "model", "created_at"]
    search_fields = ["contact__wa_id", "contact__profile_name", "detail"]
    list_select_related = ["contact"]
    date_hierarchy = "created_at"
    inlines = [AIToolCallInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in AICallLog._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(KnowledgeFetchJob)
class KnowledgeFetchJobAdmin(TenantOnlyAdmin):
    list_display = ["created_at", "url", "status", "pages_fetched", "pages_skipped", "pages_total", "finished_at"]
    list_filter = ["status"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in KnowledgeFetchJob._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False
