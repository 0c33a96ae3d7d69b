"""The analytics page, its CSV downloads and ``GET /api/analytics/`` (thin: parse, select, render).

Every dashboard user may open analytics (the layout shows it to agents too); the figures are
the tenant's totals. A bad range is a 422 with the field named, on the page shown inline.
"""

from __future__ import annotations

import csv
import io

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from bizmitra.errors import ApplicationError
from conversations.dashboard.views import handles_errors
from leads.analytics import selectors as figures
from leads.analytics.serializers import AnalyticsOutputSerializer
from leads.csv_export import csv_cell

CHART_TITLES = {
    "messages": "Messages and conversations per day",
    "response_times": "Response and resolution times",
    "who_answered": "Who answered",
    "ai_days": "AI tokens per day against the budget",
    "ai_bots": "AI calls and cost per bot",
    "busiest_hours": "Busiest hours",
    "delivery": "Delivery",
    "delivery_errors": "Failures by Meta error",
    "lead_funnel": "Lead funnel",
    "lead_sources": "Leads by source",
}


def _period(params):
    return figures.analytics_range(
        preset=params.get("preset", "").strip(),
        date_from=params.get("from", "").strip(),
        date_to=params.get("to", "").strip(),
    )


@login_required
@handles_errors
@require_GET
def analytics_page(request: HttpRequest) -> HttpResponse:
    errors, status = {}, 200
    try:
        period = _period(request.GET)
    except ApplicationError as exc:
        errors, status = exc.fields, 422
        period = figures.analytics_range()
    summary = figures.analytics_summary(period=period)
    tables = {
        chart: dict(zip(("header", "rows"), figures.analytics_table(summary=summary, chart=chart), strict=True))
        for chart in figures.CHARTS
    }
    context = {
        "summary": summary,
        "tables": tables,
        "titles": CHART_TITLES,
        "period": period,
        "presets": figures.PRESET_LABELS,
        "errors": errors,
        "values": {
            "from": request.GET.get("from", "") or period.first.isoformat(),
            "to": request.GET.get("to", "") or period.last.isoformat(),
        },
        "querystring": request.GET.urlencode(),
        "hour_labels": [f"{h:02d}" for h in range(24)],
        "ai_note": (
            f"Daily token budget {summary['ai']['daily_token_budget']:,} (AI settings). Cost is estimated at "
            f"{summary['ai']['price_per_million_tokens']['prompt']} / "
            f"{summary['ai']['price_per_million_tokens']['completion']} {summary['ai']['currency']} "
            "per million prompt / completion tokens."
        ),
    }
    return render(request, "leads/analytics.html", context, status=status)


@login_required
@handles_errors
@require_GET
def analytics_csv(request: HttpRequest, chart: str) -> HttpResponse:
    period = _period(request.GET)
    header, rows = figures.analytics_table(summary=figures.analytics_summary(period=period), chart=chart)
    out = io.StringIO()
    out.write("\ufeff")  # BOM: Excel reads UTF-8 titles correctly
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[csv_cell(v) for v in row] for row in rows])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{chart}-{period.first}-{period.last}.csv"'
    return response


class AnalyticsApi(APIView):
    """The analytics page's figures for one date range (tenant time zone)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "preset",
                OpenApiTypes.STR,
                enum=list(figures.PRESETS),
                description="A range ending today (default 30d).",
            ),
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="First day of a custom range (tenant's time zone)."
            ),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive (default today)."),
        ],
        responses={200: AnalyticsOutputSerializer, 422: OpenApiResponse(description="Bad range: the field is named.")},
    )
    def get(self, request):
        period = _period(request.query_params)
        return Response(figures.analytics_summary(period=period))
