"""The template and flow builder in the tenant admin, for non-technical staff.

Templates get their buttons and list rows as inline tables; every save runs the shared
checks of ``templates.validation`` (Meta's limits via ``build_message_payload``), each
problem shown next to the field or row to fix. ``flow_graph_check`` warnings (unreachable
templates, loops without exit...) show on the change lists and on each change form. The
change form has a phone preview; "Send test to my number" and "Sync from WhatsApp" call
the services. Everything is in the tenant's own schema, so every choice offered is
this tenant's.
"""

from __future__ import annotations

from contextvars import ContextVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from bizmitra.errors import ApplicationError
from bizmitra.graph_api.payloads import (
    BUTTON_TITLE_MAX,
    OutboundValidationError,
    normalize_recipient,
)
from templates import hooks
from templates.choices import TemplateKind
from templates.models import FlowRule, FlowSettings, MessageTemplate, TemplateButton, TemplateListRow
from templates.preview import preview_html
from templates.selectors import flow_graph_check, payload_exists
from templates.services import flow_settings_ensure, meta_templates_sync, template_send_test
from templates.validation import (
    Problem,
    flow_rule_problems,
    template_field_problems,
    template_item_problems,
    variables_problems,
)

WARNINGS_SHOWN = 8
TEST_NUMBER_SESSION_KEY = "message_templates.test_number"


class _Assets:
    css = {"all": ["message_templates/preview.css"]}
    js = ["message_templates/builder.js"]


def _show_flow_warnings(request) -> None:
    warnings = flow_graph_check()
    for warning in warnings[:WARNINGS_SHOWN]:
        messages.warning(request, warning.message)
    if len(warnings) > WARNINGS_SHOWN:
        messages.warning(request, f"… and {len(warnings) - WARNINGS_SHOWN} more flow warnings.")


def _add_problems(form, problems: list[Problem], field_of=lambda p: p.field) -> None:
    for problem in problems:
        field = field_of(problem)
        form.add_error(field if field in form.fields else None, problem.message)


# --- inlines --------------------------------------------------------------------------------


class _ChoiceFormSet(BaseInlineFormSet):
    """Validates the buttons (or rows) together with the template being saved."""

    collection = "buttons"

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        template = self.instance
        forms_in_order = sorted(
            (
                (form.cleaned_data.get("position") or 0, index, form)
                for index, form in enumerate(self.forms)
                if form.cleaned_data and not form.cleaned_data.get("DELETE")
            ),
            key=lambda item: item[:2],
        )
        items = [form.instance for _, _, form in forms_in_order]
        if template.kind == TemplateKind.META_TEMPLATE:
            return  # synced from Meta; only the wiring is editable
        problems = template_item_problems(
            kind=template.kind,
            buttons=items if self.collection == "buttons" else None,
            rows=items if self.collection == "rows" else None,
        )
        collection_errors = []
        for problem in problems:
            if problem.index is None:
                collection_errors.append(problem.message)
                continue
            form = forms_in_order[problem.index][2]
            field = problem.item_field if problem.item_field in form.fields else None
            form.add_error(field, problem.message)
        if collection_errors:
            raise ValidationError(collection_errors)


class ButtonFormSet(_ChoiceFormSet):
    collection = "buttons"


class RowFormSet(_ChoiceFormSet):
    collection = "rows"


class ButtonForm(forms.ModelForm):
    class Meta:
        model = TemplateButton
        fields = ["position", "title", "next_template", "next_state"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "title" in self.fields:
            # Interactive reply buttons: Meta's 20-character limit, enforced while typing.
            self.fields["title"].max_length = BUTTON_TITLE_MAX
            self.fields["title"].widget.attrs["maxlength"] = BUTTON_TITLE_MAX


class TemplateButtonInline(admin.TabularInline):
    model = TemplateButton
    form = ButtonForm
    formset = ButtonFormSet
    fk_name = "template"
    extra = 0
    max_num = 3
    fields = ["position", "title", "payload_id", "next_template", "next_state"]
    readonly_fields = ["payload_id"]
    verbose_name = "reply button"
    verbose_name_plural = "Reply buttons (1-3; each tap sends its next template)"

    def _is_meta(self, obj) -> bool:
        return obj is not None and obj.kind == TemplateKind.META_TEMPLATE

    def get_readonly_fields(self, request, obj=None):
        if self._is_meta(obj):
            return ["position", "title", "payload_id"]
        return self.readonly_fields

    def has_add_permission(self, request, obj=None):
        return not self._is_meta(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._is_meta(obj) and super().has_delete_permission(request, obj)

    def get_extra(self, request, obj=None, **kwargs):
        return 0 if obj is not None else 1


class TemplateListRowInline(admin.TabularInline):
    model = TemplateListRow
    formset = RowFormSet
    fk_name = "template"
    extra = 0
    max_num = 10
    fields = ["position", "section_title", "title", "description", "payload_id", "next_template", "next_state"]
    readonly_fields = ["payload_id"]
    verbose_name = "list row"
    verbose_name_plural = "List rows (up to 10; rows with the same section title form a section)"


# --- templates ------------------------------------------------------------------------------


class MessageTemplateForm(forms.ModelForm):
    header_media_link = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=MessageTemplate._meta.get_field("header_media_link").help_text,
    )

    class Meta:
        model = MessageTemplate
        fields = [
            "name",
            "kind",
            "is_active",
            "description",
            "header_text",
            "body",
            "footer",
            "list_button",
            "variables",
            "header_media_link",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            # Meta templates come from "Sync from WhatsApp", never typed in.
            self.fields["kind"].choices = [c for c in self.fields["kind"].choices if c[0] != TemplateKind.META_TEMPLATE]

    def clean(self):
        cleaned = super().clean()
        instance = self.instance
        kind = cleaned.get("kind", instance.kind)
        if kind == TemplateKind.META_TEMPLATE and instance.pk is None:
            raise ValidationError("Meta templates are synced from WhatsApp: use 'Sync from WhatsApp'.")
        values = {
            name: cleaned.get(name, getattr(instance, name))
            for name in ("header_text", "body", "footer", "list_button", "meta_name", "meta_language")
        }
        _add_problems(self, template_field_problems(kind=kind, **values))
        _add_problems(self, variables_problems(cleaned.get("variables", instance.variables)))
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    inlines = [TemplateButtonInline, TemplateListRowInline]
    list_display = ["name", "key", "kind", "short_body", "choice_count", "is_active", "meta_status", "updated_at"]
    list_filter = ["kind", "is_active", "meta_status"]
    search_fields = ["name", "key", "body", "meta_name"]
    ordering = ["name", "id"]
    actions = ["send_test_action"]
    change_list_template = "admin/message_templates/messagetemplate/change_list.html"
    change_form_template = "admin/message_templates/messagetemplate/change_form.html"
    meta_fields = [
        "meta_name",
        "meta_language",
        "meta_category",
        "meta_status",
        "meta_parameter_format",
        "meta_template_id",
        "meta_synced_at",
    ]
    Media = _Assets

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("buttons", "rows")

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["name", "key", "kind", "is_active", "description"]}),
            ("Message", {"fields": ["header_text", "body", "footer", "list_button", "variables"]}),
            ("How it looks", {"fields": ["preview", "flow_check"]}),
        ]
        if obj is not None and obj.is_meta:
            fieldsets[1] = (
                "Message (synced from WhatsApp)",
                {"fields": ["header_text", "body", "footer", "variables"]},
            )
            fieldsets.append(("Meta template", {"fields": [*self.meta_fields, "meta_components", "header_media_link"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = ["key", "preview", "flow_check", *self.meta_fields, "meta_components"]
        if obj is not None and obj.is_meta:
            readonly += ["kind", "header_text", "body", "footer", "list_button"]
        return readonly

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        if obj is not None and obj.is_meta:
            inlines = [i for i in inlines if isinstance(i, TemplateButtonInline) and obj.buttons.exists()]
        return inlines

    @admin.display(description="text")
    def short_body(self, obj):
        body = obj.body or ""
        return body if len(body) <= 60 else f"{body[:57]}…"

    @admin.display(description="choices")
    def choice_count(self, obj):
        return len(obj.buttons.all()) + len(obj.rows.all()) or "-"

    @admin.display(description="preview on a phone")
    def preview(self, obj):
        return preview_html(obj)

    @admin.display(description="flow check")
    def flow_check(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        mine = [w.message for w in flow_graph_check() if obj.pk in w.template_ids]
        if not mine:
            return "No warnings."
        return format_html(
            '<ul class="flow-warnings">{}</ul>', format_html_join("", "<li>{}</li>", ((m,) for m in mine))
        )

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if form.instance.is_meta:
            return  # positions are Meta's button indexes
        # Renumber 0..n-1 in display order, so the stored order is exactly what staff see.
        related = formset.fk.remote_field.get_accessor_name()
        for position, item in enumerate(getattr(form.instance, related).order_by("position", "id")):
            if item.position != position:
                item.position = position
                item.save(update_fields=["position"])

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            _show_flow_warnings(request)
        return super().changelist_view(request, extra_context)

    # -- custom pages --------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("sync-meta/", view(self.sync_meta_view), name="message_templates_messagetemplate_sync_meta"),
            path(
                "<path:object_id>/send-test/",
                view(self.send_test_view),
                name="message_templates_messagetemplate_send_test",
            ),
            path(
                "<path:object_id>/preview/",
                view(self.preview_view),
                name="message_templates_messagetemplate_preview",
            ),
        ] + super().get_urls()

    def sync_meta_view(self, request):
        changelist = reverse("admin:message_templates_messagetemplate_changelist")
        if request.method != "POST" or not self.has_change_permission(request):
            return HttpResponseRedirect(changelist)
        try:
            result = meta_templates_sync()
        except ApplicationError as exc:
            messages.error(request, f"Sync from WhatsApp failed: {exc.message}")
        else:
            messages.success(request, f"Synced from WhatsApp: {result}.")
        return HttpResponseRedirect(changelist)

    def preview_view(self, request, object_id):
        template = get_object_or_404(MessageTemplate.objects.prefetch_related("buttons", "rows"), pk=object_id)
        if not self.has_view_permission(request, template):
            return HttpResponseRedirect(reverse("admin:index"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preview: {template.name}",
            "original": template,
            "preview": preview_html(template),
            "media": self.media,
        }
        return TemplateResponse(request, "admin/message_templates/preview.html", context)

    @admin.action(description="Send test to my number")
    def send_test_action(self, request, queryset):
        return self._send_test(request, list(queryset), from_action=True)

    def send_test_view(self, request, object_id):
        template = get_object_or_404(MessageTemplate, pk=object_id)
        return self._send_test(request, [template], from_action=False)

    def _send_test(self, request, templates, *, from_action: bool):
        submitted = request.method == "POST" and "send_test" in request.POST
        form = SendTestForm(request.POST if submitted else None, initial={"to": _test_number_of(request)})
        if submitted and form.is_valid():
            to = form.cleaned_data["to"]
            request.session[TEST_NUMBER_SESSION_KEY] = to
            for template in templates:
                try:
                    template_send_test(template=template, to=to, sent_by=request.user)
                except ApplicationError as exc:
                    messages.error(request, f"'{template.name}' was not sent: {exc.message}")
                else:
                    messages.success(request, f"'{template.name}' is on its way to {to}.")
            if from_action or len(templates) != 1:
                return HttpResponseRedirect(reverse("admin:message_templates_messagetemplate_changelist"))
            return HttpResponseRedirect(
                reverse("admin:message_templates_messagetemplate_change", args=[templates[0].pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Send test to my number",
            "form": form,
            "templates": templates,
            "from_action": from_action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/message_templates/send_test.html", context)


class SendTestForm(forms.Form):
    to = forms.CharField(
        label="Your WhatsApp number",
        max_length=32,
        help_text="With the country code, e.g. +91 98765 43210. Text, button and list messages only "
        "arrive if this number messaged the business in the last 24 hours.",
    )

    def clean_to(self):
        try:
            _, number = normalize_recipient(self.cleaned_data["to"])
        except OutboundValidationError as exc:
            raise ValidationError(exc.reason[:1].upper() + exc.reason[1:] + ".") from exc
        return number


def _test_number_of(request) -> str:
    """The staff member's own number: a profile's phone when the project has one, else
    the number they used last time."""
    profile = getattr(request.user, "profile", None)
    for attribute in ("whatsapp_number", "phone_number", "phone"):
        value = getattr(profile, attribute, "") if profile is not None else ""
        if value:
            return str(value)
    return request.session.get(TEST_NUMBER_SESSION_KEY, "")


# --- flow rules and settings ----------------------------------------------------------------


class FlowRuleForm(forms.ModelForm):
    # ``FlowRule.bot_id`` is a plain id (bots live in conversations, above this app): the
    # choices come from templates.hooks.bot_names.
    bot = forms.TypedChoiceField(label="Bot", required=False, coerce=int, empty_value=None)

    class Meta:
        model = FlowRule
        fields = ["name", "priority", "is_active", "match_type", "pattern", "required_state", "action"]
        fields += ["template", "next_state"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.builtin_intent:
            # Built-in intents (STOP, START, ...) answer for every bot.
            del self.fields["bot"]
            return
        names = hooks.bot_names()
        self.fields["bot"].choices = [("", "Every bot"), *sorted(names.items(), key=lambda item: item[1])]
        self.fields["bot"].help_text = FlowRule._meta.get_field("bot_id").help_text
        self.initial.setdefault("bot", self.instance.bot_id)

    def clean(self):
        cleaned = super().clean()
        if "bot" in self.fields:
            self.instance.bot_id = cleaned.get("bot")
        _add_problems(
            self,
            flow_rule_problems(
                match_type=cleaned.get("match_type", ""),
                pattern=cleaned.get("pattern", ""),
                action=cleaned.get("action", ""),
                template=cleaned.get("template"),
                next_state=cleaned.get("next_state", ""),
                payload_exists=payload_exists,
            ),
        )
        return cleaned


_page_bot_names: ContextVar[tuple[str, dict[int, str]]] = ContextVar("flow_rule_page_bot_names", default=("", {}))


class BotFilter(admin.SimpleListFilter):
    title = "bot"
    parameter_name = "bot_id"

    def lookups(self, request, model_admin):
        return [
            ("none", "Every bot"),
            *sorted(((str(pk), name) for pk, name in hooks.bot_names().items()), key=lambda i: i[1]),
        ]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(bot_id__isnull=True)
        if self.value():
            try:
                return queryset.filter(bot_id=int(self.value()))
            except ValueError:
                return queryset.none()
        return queryset


@admin.register(FlowRule)
class FlowRuleAdmin(admin.ModelAdmin):
    form = FlowRuleForm
    list_display = ["priority", "name", "bot_label", "match_type", "pattern", "action", "template", "next_state"]
    list_display += ["is_active"]
    list_display_links = ["name"]
    list_editable = ["priority", "is_active"]
    list_filter = ["action", "match_type", "is_active", "builtin_intent", BotFilter]
    search_fields = ["name", "pattern"]
    ordering = ["priority", "id"]
    readonly_fields = ["builtin_intent", "bot_label"]
    list_select_related = ["template"]

    def get_fieldsets(self, request, obj=None):
        # Built-in intents (STOP, START, ...) answer for every bot: shown, not editable.
        bot = "bot_label" if obj is not None and obj.builtin_intent else "bot"
        return [
            (None, {"fields": ["name", "priority", "is_active", "builtin_intent", bot]}),
            ("When", {"fields": ["match_type", "pattern", "required_state"]}),
            ("Then", {"fields": ["action", "template", "next_state"]}),
        ]

    def get_changelist_instance(self, request):
        # One lookup of the tenant's bots for the whole page, not one per row. A context
        # variable, not an attribute: this admin object serves every tenant's requests.
        _page_bot_names.set((connection.schema_name, hooks.bot_names()))
        return super().get_changelist_instance(request)

    @admin.display(description="bot", ordering="bot_id")
    def bot_label(self, obj):
        if not obj.bot_id:
            return "Every bot"
        schema, names = _page_bot_names.get()
        if schema != connection.schema_name:
            names = hooks.bot_names()
        return names.get(obj.bot_id, f"bot {obj.bot_id}")

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            _show_flow_warnings(request)
        return super().changelist_view(request, extra_context)


@admin.register(FlowSettings)
class FlowSettingsAdmin(admin.ModelAdmin):
    fields = ["fallback_template", "builtin_intents_seeded"]
    readonly_fields = ["builtin_intents_seeded"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row per tenant: the list is just a door to it.
        settings = flow_settings_ensure()
        return HttpResponseRedirect(reverse("admin:message_templates_flowsettings_change", args=[settings.pk]))
