"""An HTML picture of a template as a WhatsApp bubble, for the admin builder.

Everything a member of staff typed is escaped first; only then are WhatsApp's own
markers (*bold*, _italic_, ~strike~, ```mono```) and ``{{variables}}`` (shown as chips)
turned into markup. Styles: ``templates/static/message_templates/preview.css``.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from templates.choices import TemplateKind
from templates.rendering import list_sections
from templates.text import VARIABLE

_FORMATTING = (
    (re.compile(r"```(.+?)```", re.S), r'<span class="wa-mono">\1</span>'),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])"), r"<em>\1</em>"),
    (re.compile(r"(?<![\w~])~(?!\s)(.+?)(?<!\s)~(?![\w~])"), r"<s>\1</s>"),
)


def rich_text(text: str) -> SafeString:
    """Escaped text with WhatsApp formatting, variable chips and line breaks."""
    html = escape(text or "")
    html = VARIABLE.sub(lambda m: f'<span class="wa-var">{m.group(1)}</span>', html)
    for pattern, replacement in _FORMATTING:
        html = pattern.sub(replacement, html)
    return mark_safe(html.replace("\n", "<br>"))  # noqa: S308 - built from escaped text only


def preview_html(template: Any) -> SafeString:
    """The phone preview of a saved template (buttons/rows as saved)."""
    if template is None or template.pk is None:
        return format_html('<div class="wa-preview-empty">{}</div>', "Save the template to see the preview.")
    header = ""
    if template.header_text:
        header = format_html('<div class="wa-header">{}</div>', rich_text(template.header_text))
    elif template.kind == TemplateKind.META_TEMPLATE and _media_header(template):
        header = format_html('<div class="wa-media">{}</div>', _media_header(template))
    footer = format_html('<div class="wa-footer">{}</div>', rich_text(template.footer)) if template.footer else ""
    bubble = format_html(
        '<div class="wa-bubble">{}<div class="wa-body">{}</div>{}<div class="wa-time">12:00</div></div>',
        header,
        rich_text(template.body) if template.body else mark_safe('<span class="wa-muted">(no text)</span>'),
        footer,
    )
    below = mark_safe("")
    if template.kind in (TemplateKind.INTERACTIVE_BUTTON, TemplateKind.META_TEMPLATE):
        titles = [b.title for b in template.buttons.all()]
        if template.kind == TemplateKind.META_TEMPLATE:
            titles = _meta_button_titles(template)
        if titles:
            below = format_html(
                '<div class="wa-buttons">{}</div>',
                format_html_join("", '<div class="wa-button">{}</div>', ((t,) for t in titles)),
            )
    elif template.kind == TemplateKind.INTERACTIVE_LIST:
        below = format_html(
            '<div class="wa-buttons"><div class="wa-button wa-list-button">☰ {}</div></div>{}',
            template.list_button or "…",
            _list_sheet(template),
        )
    return format_html(
        '<div class="wa-phone"><div class="wa-topbar">{}</div><div class="wa-screen">{}{}</div></div>',
        "WhatsApp preview",
        bubble,
        below,
    )


def _list_sheet(template: Any) -> SafeString:
    parts = []
    for section in list_sections(template.rows.all()):
        title = format_html('<div class="wa-section-title">{}</div>', section["title"]) if "title" in section else ""
        rows = format_html_join(
            "",
            '<div class="wa-row"><div class="wa-row-title">{}</div><div class="wa-row-desc">{}</div></div>',
            ((row["title"], row.get("description", "")) for row in section["rows"]),
        )
        parts.append(format_html("{}{}", title, rows))
    return format_html('<div class="wa-list">{}</div>', mark_safe("".join(parts)))  # noqa: S308 - parts are format_html


def _media_header(template: Any) -> str:
    for component in template.meta_components or []:
        if str(component.get("type") or "").upper() == "HEADER":
            kind = str(component.get("format") or "").upper()
            if kind in ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION"):
                return kind.lower()
    return ""


def _meta_button_titles(template: Any) -> list[str]:
    titles = []
    for component in template.meta_components or []:
        if str(component.get("type") or "").upper() == "BUTTONS":
            titles += [str(b.get("text") or b.get("type") or "") for b in component.get("buttons") or []]
    return titles
