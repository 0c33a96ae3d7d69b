"""Reads of templates and flow rules (call inside the tenant's schema).

``flow_graph_check`` is the builder's lint: it never blocks a save, it returns warnings
(unreachable templates, loops without exit, dead-end buttons...) that the admin shows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from bizmitra.config_cache import TenantConfigCache
from templates.choices import FlowAction, MatchType, TemplateKind
from templates.models import (
    FlowRule,
    FlowSettings,
    MessageTemplate,
    TemplateButton,
    TemplateListRow,
    TemplateSyncJob,
)
from templates.text import regex_error


def template_list() -> QuerySet[MessageTemplate]:
    """Templates with buttons and rows prefetched (with their next templates' keys)."""
    return MessageTemplate.objects.prefetch_related(
        Prefetch("buttons", queryset=TemplateButton.objects.select_related("next_template")),
        Prefetch("rows", queryset=TemplateListRow.objects.select_related("next_template")),
    ).order_by("name", "id")


def template_get(*, key: str) -> MessageTemplate | None:
    """A template by its key, ready for ``render_template``; None when this tenant has none."""
    return template_list().filter(key=key).first()


def flow_rule_list() -> QuerySet[FlowRule]:
    return FlowRule.objects.select_related("template").order_by("priority", "id")


def flow_settings_get() -> FlowSettings:
    """The tenant's flow settings; an unsaved default when never saved (no write here)."""
    return FlowSettings.objects.select_related("fallback_template").filter(pk=FlowSettings.SINGLETON_PK).first() or (
        FlowSettings(pk=FlowSettings.SINGLETON_PK)
    )


def choice_get_by_payload(*, payload_id: str) -> TemplateButton | TemplateListRow | None:
    """The button or list row with this payload id (unique in the tenant), with its
    template and next template loaded; None when unknown."""
    if not payload_id:
        return None
    for model in (TemplateButton, TemplateListRow):
        choice = (
            model.objects.select_related("template", "next_template")
            .prefetch_related("next_template__buttons", "next_template__rows")
            .filter(payload_id=payload_id)
            .first()
        )
        if choice is not None:
            return choice
    return None


def payload_exists(payload_id: str) -> bool:
    return (
        TemplateButton.objects.filter(payload_id=payload_id).exists()
        or TemplateListRow.objects.filter(payload_id=payload_id).exists()
    )


# --- the flow book: what the engine reads for every message -----------------------------------


@dataclass(frozen=True)
class FlowBook:
    """A snapshot of a tenant's templates, rules and flow settings, wired in memory.

    Templates carry their buttons and rows; each button/row its ``template`` and
    ``next_template`` (the same instances); each rule its ``template``. Built by
    ``flow_book()`` and shared by every decision of the process until the tenant's
    configuration changes (``bizmitra.config_cache``): read-only.
    """

    templates: dict[int, MessageTemplate]
    templates_by_key: dict[str, MessageTemplate]
    rules: list[FlowRule]
    choices_by_payload: dict[str, TemplateButton | TemplateListRow]
    choices_by_template: dict[int, list[TemplateButton | TemplateListRow]]
    fallback_template: MessageTemplate | None
    builtin_intents_seeded: bool


def _flow_book_build() -> FlowBook:
    templates = {t.pk: t for t in MessageTemplate.objects.prefetch_related("buttons", "rows").order_by("name", "id")}
    choices_by_payload: dict[str, TemplateButton | TemplateListRow] = {}
    choices_by_template: dict[int, list[TemplateButton | TemplateListRow]] = defaultdict(list)
    for template in templates.values():
        for choice in [*template.buttons.all(), *template.rows.all()]:
            choice.template = template
            choice.next_template = templates.get(choice.next_template_id) if choice.next_template_id else None
            if choice.payload_id:
                # Buttons before rows, as choice_get_by_payload looks them up.
                choices_by_payload.setdefault(choice.payload_id, choice)
            choices_by_template[template.pk].append(choice)
    rules = list(FlowRule.objects.filter(is_active=True).order_by("priority", "id"))
    for rule in rules:
        rule.template = templates.get(rule.template_id) if rule.template_id else None
    settings = FlowSettings.objects.filter(pk=FlowSettings.SINGLETON_PK).first()
    fallback_id = settings.fallback_template_id if settings is not None else None
    return FlowBook(
        templates=templates,
        templates_by_key={t.key: t for t in templates.values()},
        rules=rules,
        choices_by_payload=choices_by_payload,
        choices_by_template=dict(choices_by_template),
        fallback_template=templates.get(fallback_id) if fallback_id else None,
        builtin_intents_seeded=bool(settings is not None and settings.builtin_intents_seeded),
    )


_flow_books = TenantConfigCache(_flow_book_build)


def flow_book() -> FlowBook:
    """The tenant's ``FlowBook`` (no query while its configuration is unchanged)."""
    return _flow_books.get()


# --- the flow graph check -------------------------------------------------------------------


@dataclass(frozen=True)
class FlowWarning:
    """One finding of ``flow_graph_check``: ``code`` is stable, ``message`` is for staff.

    ``template_ids``/``rule_ids`` name what it is about (the change form of each of them
    shows it)."""

    code: str
    message: str
    template_ids: tuple[int, ...] = field(default=())
    rule_ids: tuple[int, ...] = field(default=())


def flow_graph_check() -> list[FlowWarning]:
    """Warnings about the tenant's templates and rules as a graph (five queries).

    Nodes are templates; edges go from a template to the ``next_template`` of each of
    its buttons/rows. Entry points are active rules' templates, the fallback template
    and Meta templates (sent by workflows and the API). Reported:

    - ``unreachable``: an active template no entry point leads to (it may still be
      sent by a workflow or the API);
    - ``loop_without_exit``: templates whose every button/row leads back into the same
      loop, so a customer tapping through never leaves it (typing text still works);
    - ``dead_end_choice``: a button/row with no next template, no next state and no
      payload rule (the fallback answers it);
    - ``inactive_target`` / ``not_approved``: a rule, button or the fallback points at an
      inactive template or a Meta template Meta has not approved;
    - ``invalid_regex``, ``unknown_payload``, ``missing_template``: broken rules that
      got past validation (e.g. written to the database directly).
    """
    templates = {t.pk: t for t in MessageTemplate.objects.only("id", "name", "key", "kind", "is_active", "meta_status")}
    choices = [
        *TemplateButton.objects.only("id", "template_id", "next_template_id", "next_state", "payload_id", "title"),
        *TemplateListRow.objects.only("id", "template_id", "next_template_id", "next_state", "payload_id", "title"),
    ]
    rules = list(FlowRule.objects.filter(is_active=True).order_by("priority", "id"))
    settings = flow_settings_get()
    warnings: list[FlowWarning] = []

    def label(pk: int) -> str:
        return f"'{templates[pk].name}'"

    def target_warnings(pk: int | None, where: str, template_ids=(), rule_ids=()) -> None:
        target = templates.get(pk) if pk else None
        if target is None:
            return
        if not target.is_active:
            warnings.append(
                FlowWarning(
                    "inactive_target",
                    f"{where} leads to the inactive template {label(pk)}.",
                    tuple(template_ids) + (pk,),
                    tuple(rule_ids),
                )
            )
        elif target.is_meta and target.meta_status != "APPROVED":
            warnings.append(
                FlowWarning(
                    "not_approved",
                    f"{where} leads to the Meta template {label(pk)}, whose status is "
                    f"{target.meta_status or 'unknown'}: Meta will refuse it.",
                    tuple(template_ids) + (pk,),
                    tuple(rule_ids),
                )
            )

    payload_rules = {r.pattern.strip() for r in rules if r.match_type == MatchType.PAYLOAD}
    known_payloads = {c.payload_id for c in choices}
    for rule in rules:
        where = f"Rule '{rule.name}'"
        if rule.match_type == MatchType.REGEX and regex_error(rule.pattern):
            warnings.append(FlowWarning("invalid_regex", f"{where} has an invalid regular expression.", (), (rule.pk,)))
        if rule.match_type == MatchType.PAYLOAD and rule.pattern.strip() not in known_payloads:
            warnings.append(
                FlowWarning("unknown_payload", f"{where} waits for a payload id no button or row has.", (), (rule.pk,))
            )
        if rule.action == FlowAction.SEND_TEMPLATE and rule.template_id is None:
            warnings.append(FlowWarning("missing_template", f"{where} has no template to send.", (), (rule.pk,)))
        target_warnings(rule.template_id, where, rule_ids=(rule.pk,))
    target_warnings(settings.fallback_template_id, "The fallback")

    edges: dict[int, set[int]] = defaultdict(set)
    choices_of: dict[int, list] = defaultdict(list)
    for choice in choices:
        if choice.template_id not in templates:
            continue
        choices_of[choice.template_id].append(choice)
        owner = label(choice.template_id)
        where = f"'{choice.title}' on {owner}"
        if choice.next_template_id:
            edges[choice.template_id].add(choice.next_template_id)
            if templates[choice.template_id].is_active:
                target_warnings(choice.next_template_id, where, template_ids=(choice.template_id,))
        elif not choice.next_state and choice.payload_id not in payload_rules:
            if templates[choice.template_id].is_active:
                warnings.append(
                    FlowWarning(
                        "dead_end_choice",
                        f"{where} leads nowhere (no next template, state or payload rule): the fallback answers it.",
                        (choice.template_id,),
                    )
                )

    entries = {r.template_id for r in rules if r.template_id}
    entries |= {settings.fallback_template_id} if settings.fallback_template_id else set()
    entries |= {pk for pk, t in templates.items() if t.kind == TemplateKind.META_TEMPLATE}
    reachable = _reach(entries, edges)
    for pk, template in templates.items():
        if template.is_active and pk not in reachable:
            warnings.append(
                FlowWarning(
                    "unreachable",
                    f"{label(pk)} is not reachable: no rule, fallback or button leads to it "
                    "(a workflow or the API can still send it).",
                    (pk,),
                )
            )

    for component in _strongly_connected(set(templates), edges):
        is_loop = len(component) > 1 or any(pk in edges.get(pk, ()) for pk in component)
        if not is_loop:
            continue
        exits = any(
            c.next_template_id is None or c.next_template_id not in component
            for pk in component
            for c in choices_of.get(pk, ())
        )
        if not exits:
            names = " → ".join(label(pk) for pk in sorted(component, key=lambda pk: templates[pk].name))
            warnings.append(
                FlowWarning(
                    "loop_without_exit",
                    f"Loop without exit: {names}. Every button leads back into the loop; "
                    "add a button that ends it or hands over.",
                    tuple(sorted(component)),
                )
            )
    return warnings


def _reach(starts: set[int], edges: dict[int, set[int]]) -> set[int]:
    seen = set(starts)
    stack = list(starts)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _strongly_connected(nodes: set[int], edges: dict[int, set[int]]) -> list[set[int]]:
    """Tarjan's algorithm, iterative (menus can be deep; no recursion limit)."""
    index_of: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[set[int]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index_of:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in nodes:
                    continue
                if child not in index_of:
                    index_of[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index_of[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def template_sync_job_get(*, job_id) -> TemplateSyncJob | None:
    """One "Sync from WhatsApp" job by id, or None (also for an id that is not a UUID)."""
    import uuid

    try:
        return TemplateSyncJob.objects.filter(pk=uuid.UUID(str(job_id))).first()
    except ValueError:
        return None
