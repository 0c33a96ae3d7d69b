"""Tenant admin of the conversation engine: bots (switches, numbers, hours, handoff settings,
schedules, audit trail), the engine's decision log and the human-takeover page.

Imported from ``ConversationsConfig.ready``. Switching a bot on or off and handing over /
returning conversations go through the services (audit rows, events), never a raw save.
"""

from django import forms
from django.contrib import admin, messages
from django.db import connection, transaction

from conversations.admin_inbound import TenantOnlyAdmin
from conversations.choices import ConversationStatus
from conversations.engine.bots import bot_audit_record, bot_disable, bot_enable, bot_phone_number_assign
from conversations.engine.handoff import conversation_handoff, conversation_return_to_bot
from conversations.models import (
    Bot,
    BotAuditLog,
    BotPhoneNumber,
    BotSchedule,
    ConversationState,
    EngineDecision,
    HandoffEvent,
    HandoffSettings,
    HumanTakeover,
    WorkingHours,
)


class BotPhoneNumberForm(forms.ModelForm):
    class Meta:
        model = BotPhoneNumber
        fields = ["phone_number_id"]

    def clean_phone_number_id(self) -> str:
        from tenants.models import PhoneNumber

        value = self.cleaned_data["phone_number_id"].strip()
        if not PhoneNumber.objects.filter(phone_number_id=value, tenant__schema_name=connection.schema_name).exists():
            raise forms.ValidationError("Not a WhatsApp number of this business.")
        return value


class BotPhoneNumberInline(admin.TabularInline):
    model = BotPhoneNumber
    form = BotPhoneNumberForm
    extra = 0


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0
    fields = ["weekday", "opens_at", "closes_at"]


class HandoffSettingsInline(admin.StackedInline):
    model = HandoffSettings
    extra = 0
    max_num = 1
    can_delete = False


class BotScheduleInline(admin.TabularInline):
    model = BotSchedule
    extra = 0
    fields = ["enable_at", "disable_at", "note", "enable_applied_at", "disable_applied_at", "created_by"]
    readonly_fields = ["enable_applied_at", "disable_applied_at", "created_by"]


class BotAuditInline(admin.TabularInline):
    model = BotAuditLog
    extra = 0
    can_delete = False
    fields = ["at", "action", "actor_label", "detail"]
    readonly_fields = fields
    ordering = ["-at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Bot)
class BotAdmin(TenantOnlyAdmin):
    list_display = [
        "name",
        "is_enabled",
        "is_default",
        "auto_response",
        "ai_enabled",
        "lead_capture",
        "working_hours_enabled",
        "numbers",
    ]
    list_filter = ["is_enabled", "auto_response", "ai_enabled"]
    search_fields = ["name", "phone_numbers__phone_number_id"]
    readonly_fields = ["is_enabled", "created_at", "updated_at"]
    inlines = [BotPhoneNumberInline, WorkingHoursInline, HandoffSettingsInline, BotScheduleInline, BotAuditInline]
    actions = ["enable_bots", "disable_bots"]

    def has_add_permission(self, request) -> bool:
        return True

    @admin.display(description="numbers")
    def numbers(self, obj: Bot) -> str:
        return ", ".join(n.phone_number_id for n in obj.phone_numbers.all()) or (
            "all others" if obj.is_default else "-"
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phone_numbers")

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            action = BotAuditLog.Action.UPDATED if change else BotAuditLog.Action.CREATED
            detail = ", ".join(form.changed_data) if change else ""
            if not change or form.changed_data:
                bot_audit_record(bot=obj, action=action, by=request.user, detail=detail)

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is BotPhoneNumber:
            # Through the service: the number must be one of this business's.
            instances = formset.save(commit=False)
            for deleted in formset.deleted_objects:
                deleted.delete()
            for instance in instances:
                if instance.pk is not None:  # an edited number: the old one is no longer served
                    BotPhoneNumber.objects.filter(pk=instance.pk).delete()
                bot_phone_number_assign(bot=form.instance, phone_number_id=instance.phone_number_id, by=request.user)
            return
        if formset.model is BotSchedule:
            # Audited like bot_schedule_create: a schedule switches the bot later, so who set it matters.
            with transaction.atomic():
                for instance in formset.save(commit=False):
                    added = instance.pk is None
                    if added:
                        instance.created_by = request.user
                    instance.save()
                    action = BotAuditLog.Action.SCHEDULED if added else BotAuditLog.Action.UPDATED
                    detail = str(instance) if added else f"schedule changed: {instance}"
                    bot_audit_record(bot=form.instance, action=action, by=request.user, detail=detail)
                for deleted in formset.deleted_objects:
                    detail = f"schedule removed: {deleted}"
                    deleted.delete()
                    bot_audit_record(
                        bot=form.instance, action=BotAuditLog.Action.UPDATED, by=request.user, detail=detail
                    )
            return
        super().save_formset(request, form, formset, change)

    @admin.action(description="Enable the selected bots", permissions=["change"])
    def enable_bots(self, request, queryset) -> None:
        changed = sum(bot_enable(bot=bot, by=request.user, detail="admin action") for bot in queryset)
        self.message_user(request, f"{changed} bot(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable the selected bots", permissions=["change"])
    def disable_bots(self, request, queryset) -> None:
        changed = sum(bot_disable(bot=bot, by=request.user, detail="admin action") for bot in queryset)
        self.message_user(request, f"{changed} bot(s) disabled.", messages.SUCCESS)


class _ReadOnly(TenantOnlyAdmin):
    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BotAuditLog)
class BotAuditLogAdmin(_ReadOnly):
    list_display = ["at", "bot_name", "action", "actor_label", "detail"]
    list_filter = ["action", "actor_label"]
    search_fields = ["bot_name", "actor_label", "detail"]
    date_hierarchy = "at"


@admin.register(ConversationState)
class ConversationStateAdmin(_ReadOnly):
    list_display = ["contact", "last_template", "state", "updated_at"]
    list_select_related = ["contact", "last_template"]
    search_fields = ["contact__wa_id", "contact__profile_name", "state"]
    readonly_fields = ["contact", "last_template", "state", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(EngineDecision)
class EngineDecisionAdmin(_ReadOnly):
    list_display = ["created_at", "contact", "path", "rule_name", "template_key", "latency_ms", "short_reason", "bot"]
    list_filter = ["path", "bot", "created_at"]
    search_fields = [
        "=message__wamid",
        "conversation__contact__wa_id",
        "conversation__contact__profile_name",
        "rule_name",
        "template_key",
        "reason",
    ]
    list_select_related = ["conversation__contact", "bot"]
    date_hierarchy = "created_at"
    raw_id_fields = ["message", "conversation", "rule", "ai_call"]
    show_full_result_count = False

    @admin.display(description="contact")
    def contact(self, obj: EngineDecision) -> str:
        return str(obj.conversation.contact)

    @admin.display(description="reason")
    def short_reason(self, obj: EngineDecision) -> str:
        return obj.reason[:100]


class HandoffEventInline(admin.TabularInline):
    model = HandoffEvent
    extra = 0
    can_delete = False
    fields = ["at", "action", "actor_label", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(HumanTakeover)
class HumanTakeoverAdmin(TenantOnlyAdmin):
    """Conversations with the takeover actions; the status only changes through them."""

    list_display = ["__str__", "status", "assigned_agent", "handoff_reason", "handed_off_at", "last_message_at"]
    list_filter = ["status", "phone_number_id"]
    search_fields = ["contact__wa_id", "contact__user_id", "contact__profile_name"]
    list_select_related = ["contact", "assigned_agent"]
    fields = ["contact", "phone_number_id", "status", "assigned_agent", "handoff_reason", "handed_off_at"]
    readonly_fields = fields
    inlines = [HandoffEventInline]
    actions = ["hand_over_to_me", "return_to_bot"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Take over: hand to me (the bot goes silent)", permissions=["change"])
    def hand_over_to_me(self, request, queryset) -> None:
        changed = sum(
            conversation_handoff(conversation=c, by=request.user, reason="taken over in the admin")
            for c in queryset.exclude(status=ConversationStatus.HANDED_OFF)
        )
        self.message_user(request, f"{changed} conversation(s) handed to you.", messages.SUCCESS)

    @admin.action(description="Return to the bot", permissions=["change"])
    def return_to_bot(self, request, queryset) -> None:
        changed = sum(
            conversation_return_to_bot(conversation=c, by=request.user, reason="returned in the admin")
            for c in queryset.filter(status=ConversationStatus.HANDED_OFF)
        )
        self.message_user(request, f"{changed} conversation(s) returned to the bot.", messages.SUCCESS)
