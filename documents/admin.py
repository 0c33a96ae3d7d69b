"""Tenant admin of documents: the settings row (OCR languages, acknowledgement, lead filling,
own Cloudinary account) and a read-only list of documents with "read again"."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from bizmitra.admin_sites import TenantOnlyAdmin
from documents.models import Document, DocumentField, DocumentSettings
from documents.services import OCR_LANGUAGES, SETTINGS_FIELDS, document_reprocess, document_settings_update


class DocumentSettingsForm(forms.ModelForm):
    cloudinary_api_secret = forms.CharField(
        label="Cloudinary API secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave blank to keep the current one.",
    )

    class Meta:
        model = DocumentSettings
        fields = [*SETTINGS_FIELDS]

    def clean_ocr_languages(self):
        value = self.cleaned_data["ocr_languages"].strip()
        if not OCR_LANGUAGES.fullmatch(value):
            raise forms.ValidationError("Write tesseract language codes like eng+hin.")
        return value


@admin.register(DocumentSettings)
class DocumentSettingsAdmin(TenantOnlyAdmin):
    form = DocumentSettingsForm
    readonly_fields = ["updated_at"]
    fieldsets = [
        ("Reading", {"fields": ["ocr_languages", "date_order", "default_currency"]}),
        ("Replies and leads", {"fields": ["acknowledge", "acknowledgement", "fill_lead"]}),
        (
            "Storage",
            {
                "fields": [
                    "storage",
                    "cloudinary_cloud_name",
                    "cloudinary_api_key",
                    "cloudinary_api_secret",
                    "cloudinary_upload_prefix",
                ]
            },
        ),
        (None, {"fields": ["updated_at"]}),
    ]

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        config = document_settings_update()
        return HttpResponseRedirect(reverse("admin:documents_documentsettings_change", args=[config.pk]))

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in SETTINGS_FIELDS}
        if not form.cleaned_data.get("cloudinary_api_secret"):
            changes.pop("cloudinary_api_secret", None)
        document_settings_update(**changes)


class DocumentFieldInline(admin.TabularInline):
    model = DocumentField
    extra = 0
    can_delete = False
    fields = ["name", "value", "original_value", "confidence", "page", "snippet", "valid", "corrected_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(TenantOnlyAdmin):
    list_display = ("__str__", "source", "kind", "status", "validation", "contact", "created_at")
    list_filter = ("status", "kind", "validation", "source")
    search_fields = ("filename", "text", "fields__value")
    list_select_related = ("contact",)
    date_hierarchy = "created_at"
    inlines = [DocumentFieldInline]
    actions = ["read_again"]
    exclude = ("file", "thumbnail")
    readonly_fields = [
        f.name for f in Document._meta.get_fields() if f.concrete and f.name not in ("id", "file", "thumbnail")
    ]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Read again")
    def read_again(self, request, queryset) -> None:
        for document in queryset:
            document_reprocess(document=document)
        messages.info(request, f"{queryset.count()} document(s) queued for reading.")
