"""Leads as CSV, shared by the API export and the admin action."""

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.utils import timezone

from leads.models import Lead

COLUMNS = [
    "id",
    "name",
    "email",
    "phone",
    "location",
    "product_interest",
    "source",
    "stage",
    "score",
    "assigned_agent",
    "tags",
    "follow_up_at",
    "sla_breached_at",
    "created_at",
    "notes",
]
# Spreadsheet apps run cells starting with these as formulas (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


# The same guard for other CSV downloads of the dashboard (analytics).
csv_cell = _cell


def _row(lead: Lead) -> list[str]:
    agent = lead.assigned_agent.get_username() if lead.assigned_agent_id else ""
    values = {
        "id": lead.pk,
        "name": lead.name,
        "email": lead.email,
        "location": lead.location,
        "product_interest": lead.product_interest,
        "source": lead.source,
        "stage": lead.stage,
        "score": lead.score,
        "assigned_agent": agent,
        "tags": ", ".join(t.name for t in lead.tags.all()),
        "follow_up_at": lead.follow_up_at,
        "sla_breached_at": lead.sla_breached_at,
        "created_at": lead.created_at,
        "notes": lead.notes,
    }
    # Stored phones are E.164 (digits after '+'), never a formula: keep the '+' readable.
    return [lead.phone if column == "phone" else _cell(values[column]) for column in COLUMNS]


def leads_csv_rows(leads: QuerySet[Lead] | Iterable[Lead]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # BOM: Excel opens UTF-8 (names in Devanagari etc.) correctly
    yield writer.writerow(COLUMNS)
    rows = leads.iterator(chunk_size=500) if isinstance(leads, QuerySet) else leads
    for lead in rows:
        yield writer.writerow(_row(lead))
