"""Small builders for template tests (call inside a tenant schema)."""

import uuid
from types import SimpleNamespace

from bizmitra.config_cache import config_changed
from templates.choices import FlowAction, MatchType, TemplateKind
from templates.models import FlowRule, MessageTemplate, TemplateButton, TemplateListRow


def text_template(name: str = "Answer", body: str = "Hello {{first_name}}", **fields) -> MessageTemplate:
    return MessageTemplate.objects.create(name=name, kind=TemplateKind.TEXT, body=body, **fields)


def button_template(name: str = "Menu", titles=("Yes", "No"), body: str = "Choose one", **fields) -> MessageTemplate:
    template = MessageTemplate.objects.create(name=name, kind=TemplateKind.INTERACTIVE_BUTTON, body=body, **fields)
    for position, title in enumerate(titles):
        TemplateButton.objects.create(template=template, position=position, title=title)
    return template


def list_template(name: str = "Catalogue", rows=(("", "One", ""),), **fields) -> MessageTemplate:
    """``rows``: (section_title, title, description) tuples."""
    fields.setdefault("list_button", "Choose")
    template = MessageTemplate.objects.create(
        name=name, kind=TemplateKind.INTERACTIVE_LIST, body="Pick a service", **fields
    )
    for position, (section, title, description) in enumerate(rows):
        TemplateListRow.objects.create(
            template=template, position=position, section_title=section, title=title, description=description
        )
    return template


def wire(choice, next_template=None, next_state: str = ""):
    choice.next_template = next_template
    choice.next_state = next_state
    choice.save()
    return choice


def rule(pattern: str, template=None, *, match_type=MatchType.CONTAINS, action=FlowAction.SEND_TEMPLATE, **fields):
    fields.setdefault("name", f"rule {pattern}")
    fields.setdefault("priority", 1)
    return FlowRule.objects.create(pattern=pattern, template=template, match_type=match_type, action=action, **fields)


def contact(**fields) -> SimpleNamespace:
    """What ``render_context`` reads of a contact (conversations.Contact sits above this app)."""
    fields.setdefault("wa_id", "9199" + uuid.uuid4().hex[:8].translate(str.maketrans("abcdef", "123456")))
    fields.setdefault("profile_name", "")
    return SimpleNamespace(recipient=f"+{fields['wa_id']}", **fields)


def flow_place(*, state: str = "", last_template=None) -> SimpleNamespace:
    """What ``flow_match`` reads of a contact's place in the flows (``FlowState``)."""
    return SimpleNamespace(state=state, last_template_id=last_template.pk if last_template is not None else None)


def builtin_rules_off() -> None:
    """Switch off the seeded built-in intents and their replies, so a test sees only its own."""
    builtins = FlowRule.objects.exclude(builtin_intent="")
    MessageTemplate.objects.filter(flow_rules__in=builtins).update(is_active=False)
    builtins.update(is_active=False)
    config_changed()
