"""Pages and htmx fragments of the leads board and the lead page (thin: parse, call, render).

Moves go through ``leads.services.lead_transition`` and edits through ``lead_update`` — the
same checks as the API. A refused move or edit answers 4xx with the reason (a toast, or the
form with inline messages), never a 500; see ``conversations.dashboard.views.handles_errors``.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bizmitra.errors import ApplicationError, Conflict, ValidationFailed
from conversations.dashboard.views import handles_errors
from leads import selectors, services
from leads.choices import ACTIVE_APPOINTMENT_STATUSES, LeadSource, LeadStage
from leads.dashboard import selectors as board
from leads.dashboard.agenda import DURATIONS
from tenants.selectors import tenant_timezone

EDIT_FIELDS = ("name", "email", "phone", "location", "product_interest", "notes")


def _toast(response: HttpResponse, text: str, kind: str = "", **events) -> HttpResponse:
    response["HX-Trigger"] = json.dumps({"toast": {"text": text, "kind": kind}, **events})
    return response


def _filter_params(request: HttpRequest) -> QueryDict:
    """The board's query string without empty values (an empty <select> means "any")."""
    params = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        kept = [v for v in values if v.strip()]
        if kept:
            params.setlist(key, kept)
    return params


def _board_context(request: HttpRequest) -> dict:
    params = _filter_params(request)
    try:
        columns = board.board_columns(user=request.user, params=params)
        errors = {}
    except ApplicationError as exc:
        columns, errors = board.board_columns(user=request.user, params=QueryDict()), exc.fields
    return {
        "columns": columns,
        "filter_errors": errors,
        "params": params,
        "querystring": params.urlencode(),
        "total": sum(c.count for c in columns),
    }


@login_required
@handles_errors
@require_GET
def leads_board(request: HttpRequest) -> HttpResponse:
    with timezone.override(tenant_timezone()):
        context = _board_context(request)
        if request.htmx and request.htmx.target == "board":
            return render(request, "leads/_board.html", context)
        context |= {
            "stages": LeadStage.choices,
            "sources": LeadSource.choices,
            "agents": selectors.agents_list(),
            "sorts": [
                ("newest", "Newest"),
                ("oldest", "Oldest"),
                ("score", "Highest score"),
                ("name", "Name"),
                ("moved", "Recently moved"),
            ],
        }
        return render(request, "leads/board.html", context)


@login_required
@handles_errors
@require_POST
def lead_move(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Move a lead (drag and drop or the card's menu). 204 + a "leads-changed" event, or the
    state machine's reason with 409/422 so the card snaps back."""
    lead = selectors.lead_get(lead_id=lead_id, user=request.user)
    to = request.POST.get("to", "")
    services.lead_transition(lead=lead, to=to, reason=request.POST.get("reason", ""), actor=request.user)
    label = dict(LeadStage.choices).get(to, to)
    return _toast(
        HttpResponse(status=204), f"{lead.display_name} moved to {label}.", "success", **{"leads-changed": True}
    )


@login_required
@require_POST
def leads_bulk(request: HttpRequest) -> HttpResponse:
    """Move or assign the leads selected on the board. Answers the result panel: what was done
    and, per refused lead, why (200 with a "leads-changed" event), or the panel with the bad
    field named (422) when nothing could be tried."""
    action = request.POST.get("action", "")
    lead_ids = request.POST.getlist("lead")
    values = {k: request.POST.get(k, "") for k in ("to", "reason", "assigned_agent")}
    results, errors, message, status = [], {}, "", 200
    try:
        if action == "move":
            results = services.leads_bulk_move(
                user=request.user, lead_ids=lead_ids, to=values["to"], reason=values["reason"], actor=request.user
            )
        elif action == "assign":
            results = services.leads_bulk_assign(
                user=request.user, lead_ids=lead_ids, agent=_agent(values["assigned_agent"]), actor=request.user
            )
        else:
            raise ValidationFailed("Choose Move or Assign.", fields={"action": ["Choose Move or Assign."]})
    except ApplicationError as exc:
        errors, message, status = exc.fields, exc.message, exc.http_status if 400 <= exc.http_status < 500 else 422
    done = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    context = {
        "action": action,
        "done": done,
        "refused": refused,
        "errors": errors,
        "message": message,
        "target": dict(LeadStage.choices).get(values["to"], ""),
    }
    response = render(request, "leads/_bulk_result.html", context, status=status)
    if status == 200:
        verb = "moved" if action == "move" else "assigned"
        text = f"{len(done)} lead{'s' if len(done) != 1 else ''} {verb}" + (
            f", {len(refused)} refused." if refused else "."
        )
        return _toast(response, text, "error" if refused and not done else "success", **{"leads-changed": True})
    return response


def _detail_context(request: HttpRequest, lead, *, errors=None, values=None, message: str = "") -> dict:
    conversation_id = board.lead_conversation_id(lead=lead)
    return {
        "lead": lead,
        "values": values
        or {f: getattr(lead, f) for f in EDIT_FIELDS} | {"assigned_agent": lead.assigned_agent_id or ""},
        "errors": errors or {},
        "form_message": message,
        "agents": selectors.agents_list(),
        "allowed": board.lead_allowed_moves(lead=lead),
        "score": selectors.lead_score_breakdown(lead=lead, recent=10),
        "timeline": board.lead_timeline(lead=lead),
        "conversation_url": reverse("inbox-conversation", args=[conversation_id]) if conversation_id else "",
        "version": lead.updated_at.isoformat(),
        "durations": DURATIONS,
        "timezone": tenant_timezone().key,
        "upcoming": list(
            lead.appointments.filter(start_at__gte=timezone.now(), status__in=ACTIVE_APPOINTMENT_STATUSES)[:5]
        ),
    }


@login_required
@handles_errors
@require_http_methods(["GET", "POST"])
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The lead page; POST saves the form through ``lead_update`` (inline errors on 422/409)."""
    lead = selectors.lead_get(lead_id=lead_id, user=request.user)
    with timezone.override(tenant_timezone()):
        if request.method == "GET":
            return render(request, "leads/detail.html", _detail_context(request, lead))
        values = {f: request.POST.get(f, "") for f in EDIT_FIELDS}
        values["assigned_agent"] = request.POST.get("assigned_agent", "")
        status, errors, message = 200, {}, ""
        try:
            # Two people editing the same lead: the second save must not silently undo the first.
            if request.POST.get("version") != lead.updated_at.isoformat():
                raise Conflict(
                    "Someone else changed this lead after you opened it. Review their changes below, then save again.",
                )
            fields = dict(values)
            fields["assigned_agent"] = _agent(values["assigned_agent"])
            services.lead_update(lead=lead, fields=fields, actor=request.user)
        except ApplicationError as exc:
            status, errors, message = exc.http_status, exc.fields, exc.message
        lead = selectors.lead_get(lead_id=lead_id, user=request.user)
        if status == 200:
            context = _detail_context(request, lead, message="")
            response = render(
                request, "leads/_detail_form.html" if request.htmx else "leads/detail.html", context, status=200
            )
            return _toast(response, "Lead saved.", "success")
        if status == 409 and not errors:
            # Version conflict: show what is stored now, keep the typed values out of it.
            context = _detail_context(request, lead, message=message)
        else:
            context = _detail_context(request, lead, errors=errors, values=values, message=message)
        template = "leads/_detail_form.html" if request.htmx else "leads/detail.html"
        return render(request, template, context, status=status if 400 <= status < 500 else 422)


def _agent(value: str):
    if not value:
        return None
    agent = selectors.agents_list().filter(pk=value).first() if value.isdigit() else None
    if agent is None:
        raise ValidationFailed("Unknown teammate.", fields={"assigned_agent": ["Pick a teammate from the list."]})
    return agent
