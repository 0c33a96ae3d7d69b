"""Platform admin (public schema): tenants, domains, phone numbers, API keys.

Secrets never show on list pages and never render back into forms.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.shortcuts import redirect, render
from django.urls import path
from django_tenants.utils import get_public_schema_name

from bizmitra.admin_sites import platform_admin_site
from bizmitra.errors import ValidationFailed
from tenants.models import ApiKey, Domain, PhoneNumber, Tenant
from tenants.services import api_key_create, api_keys_revoke, tenant_onboard


def _public_only(request) -> bool:
    return connection.schema_name == "public"


class PublicOnlyAdmin(admin.ModelAdmin):
    """Platform pages: registered on the platform site only, and refusing any tenant schema.

    The second check is defence in depth should the site ever be mounted on a tenant host.
    """

    def has_module_permission(self, request):
        return _public_only(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _public_only(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return _public_only(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return _public_only(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _public_only(request) and super().has_delete_permission(request, obj)


class OnboardTenantForm(forms.Form):
    name = forms.CharField(max_length=200)
    schema = forms.CharField(max_length=63, help_text="lowercase letters, digits, underscores")
    domain = forms.CharField(max_length=253, help_text="e.g. acme.bizmitra.app")
    phone_number_id = forms.CharField(max_length=64)
    display_phone_number = forms.CharField(max_length=32, required=False)
    waba_id = forms.CharField(max_length=64, required=False, label="WhatsApp Business Account id")
    access_token = forms.CharField(widget=forms.PasswordInput)
    app_secret = forms.CharField(widget=forms.PasswordInput, required=False)
    owner_email = forms.EmailField()
    owner_password = forms.CharField(widget=forms.PasswordInput, min_length=8)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant, site=platform_admin_site)
class TenantAdmin(PublicOnlyAdmin):
    list_display = ("name", "client_code", "schema_name", "is_active", "created_at")
    search_fields = ("name", "client_code", "schema_name")
    readonly_fields = ("schema_name", "client_code", "created_at")
    exclude = ("callback_signing_secret",)
    inlines = [DomainInline]

    def get_urls(self):
        return [
            path("onboard/", self.admin_site.admin_view(self.onboard_view), name="tenants_onboard")
        ] + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("platform_admin:tenants_onboard")

    def onboard_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = OnboardTenantForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = tenant_onboard(
                    name=data["name"],
                    schema_name=data["schema"],
                    domain=data["domain"],
                    phone_number_id=data["phone_number_id"],
                    display_phone_number=data["display_phone_number"],
                    waba_id=data["waba_id"],
                    access_token=data["access_token"],
                    app_secret=data["app_secret"],
                    owner_email=data["owner_email"],
                    owner_password=data["owner_password"],
                )
            except ValidationFailed as exc:
                for field, reasons in exc.fields.items():
                    target = field if field in form.fields else None
                    for reason in reasons:
                        form.add_error(target, reason)
            else:
                messages.success(
                    request,
                    f"Tenant {result.tenant.name} created (client code {result.tenant.client_code}). "
                    f"API key, shown only now: {result.api_key.raw_key}",
                )
                return redirect("platform_admin:tenants_tenant_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "title": "Onboard a tenant"}
        return render(request, "admin/tenants/onboard.html", context)


@admin.register(PhoneNumber, site=platform_admin_site)
class PhoneNumberAdmin(PublicOnlyAdmin):
    list_display = ("phone_number_id", "display_phone_number", "tenant", "messages_per_second", "is_active")
    search_fields = ("phone_number_id", "display_phone_number", "tenant__name")
    list_filter = ("is_active",)
    exclude = ("access_token", "app_secret")


class ApiKeyForm(forms.ModelForm):
    """The tenant drop-down offers business tenants only; the service refuses the platform too."""

    class Meta:
        model = ApiKey
        fields = ("tenant", "name", "revoked_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "tenant" in self.fields:
            self.fields["tenant"].queryset = Tenant.objects.exclude(schema_name=get_public_schema_name())

    def clean_tenant(self):
        tenant = self.cleaned_data["tenant"]
        if tenant is not None and tenant.schema_name == get_public_schema_name():
            raise forms.ValidationError("The platform (public schema) cannot have API keys; choose a business tenant.")
        return tenant


@admin.register(ApiKey, site=platform_admin_site)
class ApiKeyAdmin(PublicOnlyAdmin):
    form = ApiKeyForm
    list_display = ("__str__", "tenant", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        issued = api_key_create(tenant=obj.tenant, name=obj.name)
        obj.pk = issued.api_key.pk
        messages.success(request, f"API key, shown only now: {issued.raw_key}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        api_keys_revoke(api_keys=queryset)
