"""Writes of templates (with their buttons and list rows), flow rules and flow settings.

Used by the API; the admin builder saves through Django's forms but runs the same
``templates.validation`` checks. Call inside the tenant's schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from bizmitra.errors import ValidationFailed
from templates import hooks
from templates.choices import TemplateKind
from templates.models import FlowRule, FlowSettings, MessageTemplate, TemplateButton, TemplateListRow
from templates.selectors import payload_exists
from templates.validation import Problem, flow_rule_problems, problems_as_fields, template_problems, variables_problems

_TEMPLATE_FIELDS = ("name", "kind", "header_text", "body", "footer", "list_button", "variables", "description")
_TEMPLATE_FIELDS += ("is_active", "header_media_link")
# What staff may change on a synced Meta template; the rest mirrors Meta.
_META_EDITABLE = frozenset({"name", "description", "is_active", "variables", "header_media_link"})
# Opt-out/opt-in and the other seeded intents must answer whichever bot serves the number.
BUILTIN_TENANT_WIDE = "Built-in intents apply to every bot; they cannot be limited to one."
_BUTTON_FIELDS = ("title", "next_template", "next_state")
_ROW_FIELDS = ("section_title", "title", "description", "next_template", "next_state")


@transaction.atomic
def template_create(
    *,
    name: str,
    kind: str = TemplateKind.TEXT,
    body: str = "",
    header_text: str = "",
    footer: str = "",
    list_button: str = "",
    variables: Mapping[str, Any] | None = None,
    description: str = "",
    is_active: bool = True,
    header_media_link: str = "",
    buttons: Sequence[Mapping[str, Any]] = (),
    rows: Sequence[Mapping[str, Any]] = (),
) -> MessageTemplate:
    """Create a text, reply-button or list template; its key and payload ids are generated.

    ``buttons``: ``[{"title", "next_template": MessageTemplate|None, "next_state"}]``;
    ``rows``: the same plus ``section_title`` and ``description``. Meta templates are
    not created here: ``meta_templates_sync`` brings them from WhatsApp.
    """
    if kind == TemplateKind.META_TEMPLATE:
        raise ValidationFailed(
            "Meta templates are synced from WhatsApp, not created here.",
            fields={"kind": ["Sync Meta templates from WhatsApp instead."]},
        )
    template = MessageTemplate(
        name=name,
        kind=kind,
        body=body,
        header_text=header_text,
        footer=footer,
        list_button=list_button,
        variables=dict(variables or {}),
        description=description,
        is_active=is_active,
        header_media_link=header_media_link,
    )
    new_buttons = [
        TemplateButton(template=template, position=i, **_pick(b, _BUTTON_FIELDS)) for i, b in enumerate(buttons)
    ]
    new_rows = [TemplateListRow(template=template, position=i, **_pick(r, _ROW_FIELDS)) for i, r in enumerate(rows)]
    _validate(template, new_buttons, new_rows)
    template.save()
    for item in [*new_buttons, *new_rows]:
        item.template = template
        item.save()
    return template


@transaction.atomic
def template_update(
    *,
    template: MessageTemplate,
    buttons: Sequence[Mapping[str, Any]] | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
    **changes: Any,
) -> MessageTemplate:
    """Change a template; ``buttons``/``rows`` (when given) replace the current ones.

    An item that names an existing ``payload_id`` is updated in place (its id, which old
    menus on phones still send, never changes); items without one are added; current
    items not listed are removed. On a synced Meta template only ``_META_EDITABLE``
    fields and the ``next_template``/``next_state`` of its existing buttons change.
    """
    template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
    unknown = set(changes) - set(_TEMPLATE_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown fields.", fields={f: ["Not a template field."] for f in sorted(unknown)})
    if template.is_meta:
        locked = {f for f in changes if f not in _META_EDITABLE and changes[f] != getattr(template, f)}
        if locked or rows:
            fields = {f: ["Synced from WhatsApp; change it in WhatsApp Manager."] for f in sorted(locked)}
            if rows:
                fields["rows"] = ["Meta templates have no list rows."]
            raise ValidationFailed("This Meta template is synced from WhatsApp.", fields=fields)
    elif changes.get("kind") == TemplateKind.META_TEMPLATE:
        raise ValidationFailed("Meta templates are synced from WhatsApp.", fields={"kind": ["Not allowed."]})
    for name, value in changes.items():
        setattr(template, name, value)

    current_buttons = list(template.buttons.all())
    current_rows = list(template.rows.all())
    new_buttons, gone_buttons = _merge(template, current_buttons, buttons, TemplateButton, _BUTTON_FIELDS, "buttons")
    new_rows, gone_rows = _merge(template, current_rows, rows, TemplateListRow, _ROW_FIELDS, "rows")
    if template.is_meta and buttons is not None:
        added = [b for b in new_buttons if b.pk is None]
        retitled = [b for b in new_buttons if b.pk and b.title != _by_pk(current_buttons)[b.pk]]
        if added or gone_buttons or retitled:
            raise ValidationFailed(
                "This Meta template is synced from WhatsApp.",
                fields={"buttons": ["Only next_template and next_state of its buttons can change."]},
            )
    _validate(template, new_buttons, new_rows)
    template.save()
    for item in [*gone_buttons, *gone_rows]:
        item.delete()
    for item in [*new_buttons, *new_rows]:
        item.save()
    return template


@transaction.atomic
def flow_rule_create(**fields: Any) -> FlowRule:
    """Create a flow rule (see ``FlowRule``); ``builtin_intent`` is for the seeder only."""
    fields.pop("builtin_intent", None)
    rule = FlowRule(**fields)
    _validate_rule(rule)
    rule.save()
    return rule


@transaction.atomic
def flow_rule_update(*, rule: FlowRule, **changes: Any) -> FlowRule:
    changes.pop("builtin_intent", None)
    for name, value in changes.items():
        setattr(rule, name, value)
    _validate_rule(rule)
    rule.save()
    return rule


def flow_settings_ensure() -> FlowSettings:
    """The tenant's flow settings row, created on first use."""
    settings, _ = FlowSettings.objects.get_or_create(pk=FlowSettings.SINGLETON_PK)
    return settings


@transaction.atomic
def flow_settings_update(*, fallback_template: MessageTemplate | None) -> FlowSettings:
    """Set the tenant's fallback template (creates the settings row on first use)."""
    settings, _ = FlowSettings.objects.select_for_update().get_or_create(pk=FlowSettings.SINGLETON_PK)
    settings.fallback_template = fallback_template
    settings.save(update_fields=["fallback_template", "updated_at"])
    return settings


# --- internals ----------------------------------------------------------------------------


def _pick(data: Mapping[str, Any], allowed: Sequence[str]) -> dict[str, Any]:
    unknown = set(data) - set(allowed) - {"payload_id"}
    if unknown:
        raise ValidationFailed("Unknown fields.", fields={f: ["Unknown field."] for f in sorted(unknown)})
    return {k: v for k, v in data.items() if k in allowed and v is not None}


def _by_pk(items) -> dict[int, str]:
    return {item.pk: item.title for item in items}


def _merge(template, current, wanted, model, fields, collection):
    """(items to save in order, items to delete) for a replace-style update of one collection."""
    if wanted is None:
        return current, []
    by_payload = {item.payload_id: item for item in current}
    kept, seen = [], set()
    for position, data in enumerate(wanted):
        payload_id = data.get("payload_id")
        if payload_id:
            item = by_payload.get(payload_id)
            if item is None or payload_id in seen:
                raise ValidationFailed(
                    "Unknown payload id.",
                    fields={f"{collection}[{position}].payload_id": [f"{payload_id!r} is not one of this template's."]},
                )
            seen.add(payload_id)
        else:
            item = model(template=template)
        for name, value in _pick(data, fields).items():
            setattr(item, name, value)
        if "next_template" in data and data["next_template"] is None:
            item.next_template = None
        item.position = position
        kept.append(item)
    return kept, [item for item in current if item.payload_id not in seen]


def _validate(template: MessageTemplate, buttons, rows) -> None:
    problems = template_problems(
        kind=template.kind,
        header_text=template.header_text,
        body=template.body,
        footer=template.footer,
        list_button=template.list_button,
        meta_name=template.meta_name,
        meta_language=template.meta_language,
        buttons=[] if template.is_meta else buttons,
        rows=rows,
    )
    problems += variables_problems(template.variables)
    if not (template.name or "").strip():
        problems.append(Problem("name", "This field is required."))
    if problems:
        raise ValidationFailed("The template is not valid.", fields=problems_as_fields(problems))


def _validate_rule(rule: FlowRule) -> None:
    problems = flow_rule_problems(
        match_type=rule.match_type,
        pattern=rule.pattern,
        action=rule.action,
        template=rule.template,
        next_state=rule.next_state,
        payload_exists=payload_exists,
    )
    if not (rule.name or "").strip():
        problems.append(Problem("name", "This field is required."))
    if rule.builtin_intent and rule.bot_id is not None:
        problems.append(Problem("bot", BUILTIN_TENANT_WIDE))
    elif rule.bot_id is not None and rule.bot_id not in hooks.bot_names():
        # Bots live in the tenant's schema too, so another tenant's bot id is unknown here.
        problems.append(Problem("bot", f"No bot of this business has the id {rule.bot_id}."))
    if problems:
        raise ValidationFailed("The flow rule is not valid.", fields=problems_as_fields(problems))
