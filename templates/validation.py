"""Validation of templates and flow rules, shared by the admin builder and the API.

Meta's limits are not repeated here: a template is checked by building its message with
``rendering.build_content`` and passing it through ``payloads.build_message_payload``,
the same check every send goes through, and its ``OutboundValidationError`` is mapped
back to the field a member of staff can fix. That check stops at the first problem, so
buttons and rows are also built one at a time to report every bad title at once.

Functions return ``Problem`` lists (empty = valid) rather than raising, so the admin can
attach each problem to its inline form and the API can report them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from bizmitra.graph_api.payloads import OutboundValidationError, build_message_payload
from templates.choices import TEXT_MATCH_TYPES, FlowAction, MatchType, TemplateKind
from templates.rendering import build_content
from templates.text import keywords, regex_error

# Any valid recipient: validation is about the message, not who gets it.
_PROBE_RECIPIENT = "+10000000000"
_PLACEHOLDER = "x"


@dataclass(frozen=True)
class Problem:
    """One thing to fix: ``field`` of the template/rule, or item ``index`` of the
    ``buttons``/``rows`` collection (then ``item_field`` names the item's field)."""

    field: str
    message: str
    index: int | None = None
    item_field: str | None = None

    @property
    def path(self) -> str:
        """``body``, ``buttons`` or ``buttons[1].title`` (the API's error field names)."""
        if self.index is None:
            return self.field
        return f"{self.field}[{self.index}].{self.item_field}" if self.item_field else f"{self.field}[{self.index}]"


def problems_as_fields(problems: Sequence[Problem]) -> dict[str, list[str]]:
    """``{"buttons[1].title": ["..."], ...}`` for ``ValidationFailed(fields=...)``."""
    fields: dict[str, list[str]] = {}
    for problem in problems:
        fields.setdefault(problem.path, []).append(problem.message)
    return fields


# --- templates ------------------------------------------------------------------------------


def template_field_problems(
    *,
    kind: str,
    header_text: str = "",
    body: str = "",
    footer: str = "",
    list_button: str = "",
    meta_name: str = "",
    meta_language: str = "",
) -> list[Problem]:
    """Problems with the template's own fields (its buttons/rows replaced by a placeholder)."""
    if kind not in TemplateKind.values:
        return [Problem("kind", f"Unknown template kind {kind!r}.")]
    if kind == TemplateKind.META_TEMPLATE:
        problems = []
        if not meta_name:
            problems.append(Problem("meta_name", "A Meta template needs its name (sync templates from WhatsApp)."))
        if not meta_language:
            problems.append(Problem("meta_language", "A Meta template needs its language code."))
        return problems
    placeholder = SimpleNamespace(payload_id=_PLACEHOLDER, title=_PLACEHOLDER, description="", section_title="")
    return _build_problems(
        kind=kind,
        header_text=header_text,
        body=body,
        footer=footer,
        list_button=list_button,
        buttons=[placeholder],
        rows=[placeholder],
        sections_rows=[[0]],
    )


def template_item_problems(
    *, kind: str, buttons: Sequence[Any] | None = None, rows: Sequence[Any] | None = None
) -> list[Problem]:
    """Problems with a template's buttons and/or list rows (count, titles, sections).

    ``buttons``/``rows`` are unsaved or saved model instances (``payload_id``, ``title``,
    rows also ``description`` and ``section_title``), in display order; None leaves that
    collection unchecked (the admin validates each inline on its own).
    """
    problems: list[Problem] = []
    if buttons is not None:
        if kind == TemplateKind.INTERACTIVE_BUTTON:
            problems += _items(kind, buttons=list(buttons), rows=[])
        elif kind != TemplateKind.META_TEMPLATE and buttons:
            problems.append(Problem("buttons", "Only reply-button templates have buttons; remove them."))
    if rows is not None:
        if kind == TemplateKind.INTERACTIVE_LIST:
            problems += _items(kind, buttons=[], rows=list(rows))
        elif rows:
            problems.append(Problem("rows", "Only list templates have list rows; remove them."))
    return _unique(problems)


def template_problems(*, buttons: Sequence[Any] = (), rows: Sequence[Any] = (), **fields: Any) -> list[Problem]:
    """Everything wrong with a template and its items (the API's full check)."""
    return _unique(
        template_field_problems(**fields) + template_item_problems(kind=fields["kind"], buttons=buttons, rows=rows)
    )


def _items(kind: str, *, buttons: list[Any], rows: list[Any]) -> list[Problem]:
    groups = _section_groups(rows)
    problems = _build_problems(
        kind=kind, body=_PLACEHOLDER, list_button=_PLACEHOLDER, buttons=buttons, rows=rows, sections_rows=groups
    )
    # One item at a time, so every bad title shows, not just the first.
    for index, button in enumerate(buttons):
        for problem in _build_problems(kind=kind, body=_PLACEHOLDER, buttons=[button], rows=[], sections_rows=[]):
            if problem.index is not None:
                problems.append(Problem(problem.field, problem.message, index, problem.item_field))
    several_sections = len(groups) > 1
    for index, row in enumerate(rows):
        single = SimpleNamespace(
            payload_id=row.payload_id,
            title=row.title,
            description=row.description,
            # With several sections each needs a title: keep it so a missing one shows.
            section_title=row.section_title if (row.section_title or several_sections) else "",
        )
        if several_sections and not row.section_title:
            problems.append(
                Problem("rows", "With two or more sections every row needs a section title.", index, "section_title")
            )
            continue
        for problem in _build_problems(
            kind=kind, body=_PLACEHOLDER, list_button=_PLACEHOLDER, buttons=[], rows=[single], sections_rows=[[0]]
        ):
            if problem.index is not None:
                problems.append(Problem(problem.field, problem.message, index, problem.item_field))
    return problems


def _section_groups(rows: Sequence[Any]) -> list[list[int]]:
    """Row indices per section, sections in order of first appearance (as rendered)."""
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(row.section_title or "", []).append(index)
    return list(groups.values())


_BUTTON_ITEM = re.compile(r"^interactive\.action\.buttons\[(\d+)\](?:\.reply)?\.?(\w+)?")
_ROW_ITEM = re.compile(r"^interactive\.action\.sections\[(\d+)\]\.rows\[(\d+)\]\.?(\w+)?")
_SECTION_ITEM = re.compile(r"^interactive\.action\.sections\[(\d+)\]\.(title|rows)$")
_TEMPLATE_FIELDS = {
    "text.body": "body",
    "text": "body",
    "interactive.body": "body",
    "interactive.body.text": "body",
    "interactive.header": "header_text",
    "interactive.header.text": "header_text",
    "interactive.footer": "footer",
    "interactive.footer.text": "footer",
    "interactive.action.button": "list_button",
    "interactive.action.buttons": "buttons",
    "interactive.action.sections": "rows",
}
_HUMAN_FIELD = {"id": "payload id", "title": "title", "description": "description", "reply": "button"}


def _build_problems(
    *,
    kind: str,
    header_text: str = "",
    body: str = "",
    footer: str = "",
    list_button: str = "",
    buttons: Sequence[Any],
    rows: Sequence[Any],
    sections_rows: list[list[int]],
) -> list[Problem]:
    try:
        message_type, content = build_content(
            kind=kind,
            header_text=header_text,
            body=body,
            footer=footer,
            list_button=list_button,
            buttons=buttons,
            rows=rows,
        )
        build_message_payload(to=_PROBE_RECIPIENT, type=message_type, content=content)
    except OutboundValidationError as error:
        return [_problem_from(error, sections_rows)]
    return []


def _problem_from(error: OutboundValidationError, sections_rows: list[list[int]]) -> Problem:
    reason = error.reason[:1].upper() + error.reason[1:]
    if error.reason == "a non-empty string is required":
        reason = "This field is required."
    if error.field in _TEMPLATE_FIELDS:
        return Problem(_TEMPLATE_FIELDS[error.field], _sentence(reason))
    match = _BUTTON_ITEM.match(error.field)
    if match:
        item_field = match.group(2) if match.group(2) in ("id", "title") else "title"
        return Problem(
            "buttons", _sentence(f"Button {int(match.group(1)) + 1}: {reason}"), int(match.group(1)), item_field
        )
    match = _ROW_ITEM.match(error.field)
    if match:
        section, position = int(match.group(1)), int(match.group(2))
        index = sections_rows[section][position] if section < len(sections_rows) else position
        item_field = match.group(3) if match.group(3) in ("title", "description") else "title"
        label = _HUMAN_FIELD.get(item_field, item_field)
        return Problem("rows", _sentence(f"Row {index + 1} {label}: {reason}"), index, item_field)
    match = _SECTION_ITEM.match(error.field)
    if match:
        section = int(match.group(1))
        index = sections_rows[section][0] if section < len(sections_rows) else 0
        if match.group(2) == "title":
            return Problem("rows", _sentence(f"Section title: {reason}"), index, "section_title")
        return Problem("rows", _sentence(reason))
    return Problem("body", _sentence(f"{error.field}: {reason}"))


def _sentence(text: str) -> str:
    return text if text.endswith(".") else f"{text}."


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def variables_problems(variables: Any) -> list[Problem]:
    """Problems with ``MessageTemplate.variables`` (slot -> {source, fallback})."""
    if not isinstance(variables, Mapping):
        return [Problem("variables", 'Give an object: {"first_name": {"source": "...", "fallback": "..."}}.')]
    for slot, config in variables.items():
        if not isinstance(config, Mapping) or set(config) - {"source", "fallback"}:
            return [Problem("variables", f"Variable {slot!r}: give an object with 'source' and/or 'fallback'.")]
        if any(not isinstance(v, str) for v in config.values()):
            return [Problem("variables", f"Variable {slot!r}: 'source' and 'fallback' must be text.")]
    return []


# --- flow rules -----------------------------------------------------------------------------


def flow_rule_problems(
    *,
    match_type: str,
    pattern: str,
    action: str,
    template: Any = None,
    next_state: str = "",
    payload_exists: Callable[[str], bool] | None = None,
) -> list[Problem]:
    """Problems with a flow rule. ``payload_exists(payload_id)`` checks payload rules
    against the tenant's buttons and rows (``selectors.choice_get_by_payload``)."""
    problems: list[Problem] = []
    pattern = (pattern or "").strip()
    if not pattern:
        problems.append(Problem("pattern", "This field is required."))
    elif match_type in TEXT_MATCH_TYPES and match_type != MatchType.REGEX and not keywords(pattern):
        problems.append(Problem("pattern", "Give at least one keyword with letters or digits."))
    elif match_type == MatchType.REGEX:
        error = regex_error(pattern)
        if error:
            problems.append(Problem("pattern", f"This regular expression {error}."))
    elif match_type == MatchType.PAYLOAD and payload_exists is not None and not payload_exists(pattern):
        problems.append(Problem("pattern", f"No button or list row of this business has the payload id {pattern!r}."))
    if match_type not in MatchType.values:
        problems.append(Problem("match_type", f"Unknown match type {match_type!r}."))
    if action == FlowAction.SEND_TEMPLATE and template is None:
        problems.append(Problem("template", "Choose the template to send."))
    if action == FlowAction.SET_STATE and not (next_state or "").strip():
        problems.append(Problem("next_state", "Give the state to set."))
    if action == FlowAction.AI and template is not None:
        problems.append(Problem("template", "Rules handing to the AI assistant send no template; clear it."))
    if action not in FlowAction.values:
        problems.append(Problem("action", f"Unknown action {action!r}."))
    return problems
