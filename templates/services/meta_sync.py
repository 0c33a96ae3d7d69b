"""Sync the tenant's Meta-approved message templates from its WhatsApp Business account(s).

``GET /<WABA_ID>/message_templates`` (``GraphClient.list_message_templates``) with the
token of the tenant's registered number for that WABA (public ``PhoneNumber`` registry),
against ``settings.WHATSAPP_GRAPH_URL`` (a ``GraphSandbox`` in tests and development).
Meta's management endpoints allow about 200 calls an hour per WABA (FACTS.md §4), so
this runs on demand (admin button, API, ``manage.py tenant_command meta_templates_sync``),
not on every send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bizmitra.errors import ApplicationError, ValidationFailed
from bizmitra.graph_api.client import GraphApiError, GraphClient, GraphError
from templates.choices import ParameterFormat, TemplateKind
from templates.models import QUICK_REPLY_TITLE_MAX, MessageTemplate, TemplateButton
from templates.text import variable_slots
from tenants.models import PhoneNumber

SYNC_FIELDS = ("name", "language", "status", "category", "components", "parameter_format", "id")
DELETED = "DELETED"  # Meta's own status for a template removed from the WABA


class MetaSyncFailed(ApplicationError):
    """WhatsApp could not be asked for the templates (token, network, Meta error)."""

    code = "meta_sync_failed"
    http_status = 502


@dataclass(frozen=True)
class MetaSyncResult:
    created: int
    updated: int
    deactivated: int
    waba_ids: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.created} new, {self.updated} updated, {self.deactivated} no longer on WhatsApp "
            f"(accounts: {', '.join(self.waba_ids)})"
        )


def meta_templates_sync(*, on_progress: Callable[[SyncProgress], None] | None = None) -> MetaSyncResult:
    """Fetch every template of the tenant's WABAs and upsert them as ``meta_template`` rows.

    Call inside the tenant's schema. Keyed on (name, language): keys, staff's variable
    settings and button wiring survive re-syncs; quick-reply buttons get stable payload
    ids by position; templates gone from Meta are deactivated with status DELETED (not
    deleted: rules and buttons may still point at them). Raises ``ValidationFailed``
    when the tenant has no number with a WABA id, ``MetaSyncFailed`` when Graph fails;
    nothing is written then. Graph calls happen outside the database transaction.
    """
    fetched: list[dict[str, Any]] = []
    waba_tokens = _waba_tokens()
    pages = 0  # pages read in the accounts before this one

    def report(done: int, account_pages: int, account_templates: int) -> None:
        if on_progress is not None:
            progress = SyncProgress(len(waba_tokens), done, pages + account_pages, len(fetched) + account_templates)
            on_progress(progress)

    for done, (waba_id, token) in enumerate(waba_tokens.items()):
        client = GraphClient(
            base_url=settings.WHATSAPP_GRAPH_URL, api_version=settings.WHATSAPP_API_VERSION, access_token=token
        )
        read = [0]

        def page_read(account_pages: int, account_templates: int, *, done=done, read=read) -> None:
            read[0] = account_pages
            report(done, account_pages, account_templates)

        try:
            account = client.list_message_templates(
                waba_id, fields=SYNC_FIELDS, limit=settings.TEMPLATES_SYNC_PAGE_SIZE, on_page=page_read
            )
        except GraphApiError as exc:
            raise MetaSyncFailed(f"WhatsApp refused the template list for account {waba_id}: {exc.title}.") from exc
        except GraphError as exc:
            raise MetaSyncFailed(f"WhatsApp could not be reached for account {waba_id}; try again.") from exc
        fetched.extend(account)
        pages += read[0]
        report(done + 1, 0, 0)
    created, updated, deactivated = _store(fetched)
    return MetaSyncResult(created=created, updated=updated, deactivated=deactivated, waba_ids=tuple(waba_tokens))


@dataclass(frozen=True)
class SyncProgress:
    """How far a sync got: accounts listed of all, pages of Meta's listing read, templates fetched."""

    accounts_total: int
    accounts_done: int
    pages: int
    templates: int


def _waba_tokens() -> dict[str, str]:
    """WABA id -> access token of the tenant's first active number in that account."""
    numbers = (
        PhoneNumber.objects.filter(tenant__schema_name=connection.schema_name, is_active=True)
        .exclude(waba_id="")
        .order_by("id")
    )
    tokens: dict[str, str] = {}
    for number in numbers:
        tokens.setdefault(number.waba_id, number.access_token)
    if not tokens:
        raise ValidationFailed(
            "No WhatsApp Business account is known for this business.",
            fields={"waba_id": ["Register a phone number with its WhatsApp Business account id first."]},
        )
    return tokens


@transaction.atomic
def _store(fetched: list[dict[str, Any]]) -> tuple[int, int, int]:
    existing = {
        (t.meta_name, t.meta_language): t
        for t in MessageTemplate.objects.select_for_update().filter(kind=TemplateKind.META_TEMPLATE)
    }
    now = timezone.now()
    seen: set[tuple[str, str]] = set()
    created = updated = 0
    for item in fetched:
        name, language = str(item.get("name") or ""), str(item.get("language") or "")
        if not name or not language or (name, language) in seen:
            continue
        seen.add((name, language))
        template = existing.get((name, language))
        if template is None:
            template = MessageTemplate(
                kind=TemplateKind.META_TEMPLATE,
                meta_name=name,
                meta_language=language,
                name=f"{name} ({language})"[:100],
            )
            created += 1
        else:
            updated += 1
        _apply(template, item, now)
        template.save()
        _sync_quick_replies(template, template.meta_components)

    deactivated = 0
    for key, template in existing.items():
        if key not in seen and template.meta_status != DELETED:
            template.meta_status = DELETED
            template.is_active = False
            template.meta_synced_at = now
            template.save(update_fields=["meta_status", "is_active", "meta_synced_at", "updated_at"])
            deactivated += 1
    return created, updated, deactivated


def _apply(template: MessageTemplate, item: dict[str, Any], now) -> None:
    components = [c for c in item.get("components") or [] if isinstance(c, dict)]
    texts = {str(c.get("type") or "").upper(): c for c in components}
    header = texts.get("HEADER", {})
    if template.meta_status == DELETED:
        template.is_active = True  # back on WhatsApp after we saw it gone
    template.header_text = (
        str(header.get("text") or "")[:60] if str(header.get("format") or "TEXT").upper() == "TEXT" else ""
    )
    template.body = str(texts.get("BODY", {}).get("text") or "")
    template.footer = str(texts.get("FOOTER", {}).get("text") or "")[:60]
    template.meta_category = str(item.get("category") or "")[:32]
    template.meta_status = str(item.get("status") or "")[:32]
    template.meta_template_id = str(item.get("id") or "")[:64]
    template.meta_components = components
    template.meta_parameter_format = _parameter_format(item, components)
    template.meta_synced_at = now
    variables = dict(template.variables or {})
    for component in components:
        slots = variable_slots(str(component.get("text") or ""))
        for button in component.get("buttons") or []:
            slots += variable_slots(str(button.get("url") or ""))
        for slot in slots:
            # Empty source = the slot's own name in the context; staff fill in the rest.
            variables.setdefault(slot, {"source": "", "fallback": ""})
    template.variables = variables


def _parameter_format(item: dict[str, Any], components: list[dict[str, Any]]) -> str:
    """NAMED or POSITIONAL from the variables themselves; Meta's ``parameter_format`` only
    when the text has none (it is missing on older API versions)."""
    slots = [s for c in components for s in variable_slots(str(c.get("text") or ""))]
    if slots:
        return ParameterFormat.POSITIONAL if all(s.isdigit() for s in slots) else ParameterFormat.NAMED
    declared = str(item.get("parameter_format") or "").lower()
    return ParameterFormat.NAMED if declared == ParameterFormat.NAMED else ParameterFormat.POSITIONAL


def _sync_quick_replies(template: MessageTemplate, components: list[dict[str, Any]]) -> None:
    """One ``TemplateButton`` per QUICK_REPLY button, at Meta's button index; payload ids
    and staff's wiring are kept across syncs."""
    titles: dict[int, str] = {}
    for component in components:
        if str(component.get("type") or "").upper() != "BUTTONS":
            continue
        for index, button in enumerate(component.get("buttons") or []):
            if str(button.get("type") or "").upper() == "QUICK_REPLY":
                titles[index] = str(button.get("text") or "")[:QUICK_REPLY_TITLE_MAX] or f"Button {index + 1}"
    current = {b.position: b for b in template.buttons.all()}
    for position, button in current.items():
        if position not in titles:
            button.delete()
    for position, title in titles.items():
        button = current.get(position) or TemplateButton(template=template, position=position)
        if button.pk is None or button.title != title:
            button.title = title
            button.save()
