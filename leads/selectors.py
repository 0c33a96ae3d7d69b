"""Reads of leads, appointments and notifications (call inside the tenant's schema).

Visibility: owners (superusers), staff without the Agents group and API keys see
every lead; an agent sees the leads assigned to them and the unassigned ones.
"""

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from bizmitra.errors import NotFound
from leads.choices import SignalKind
from leads.models import Appointment, GoogleCalendarSettings, Lead, LeadSettings, Notification, Tag
from tenants.services import AGENT_GROUP, OWNER_GROUP


def lead_settings_get() -> LeadSettings:
    """The tenant's lead settings; an unsaved default when never saved (a read writes nothing;
    ``save()`` on it creates the row)."""
    return LeadSettings.objects.filter(pk=1).first() or LeadSettings(pk=1)


def google_calendar_settings_get() -> GoogleCalendarSettings | None:
    """The tenant's calendar if one is configured and switched on, else None (no sync)."""
    settings = GoogleCalendarSettings.objects.filter(pk=1, is_active=True).first()
    if settings is None or not settings.service_account_json or not settings.calendar_id:
        return None
    return settings


def _is_person(user) -> bool:
    return user is not None and getattr(user, "pk", None) is not None


def user_is_agent_only(user) -> bool:
    """True for agents, who see only their own and unassigned leads."""
    if not _is_person(user) or user.is_superuser:
        return False
    return user.groups.filter(name=AGENT_GROUP).exists() and not user.groups.filter(name=OWNER_GROUP).exists()


def lead_list(*, user) -> QuerySet[Lead]:
    leads = (
        Lead.objects.select_related("contact", "assigned_agent")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .order_by("-created_at", "-id")
    )
    if user_is_agent_only(user):
        leads = leads.filter(Q(assigned_agent=user) | Q(assigned_agent__isnull=True))
    return leads


def lead_get(*, lead_id: int, user) -> Lead:
    lead = lead_list(user=user).filter(pk=lead_id).first()
    if lead is None:
        raise NotFound(f"Lead {lead_id} does not exist.")
    return lead


def lead_for_contact(*, contact_id: int) -> Lead | None:
    return Lead.objects.filter(contact_id=contact_id).first()


def lead_score_breakdown(*, lead: Lead, recent: int = 50) -> dict:
    """Why a lead has its score: points per kind of signal, and the latest signals."""
    from leads.services.scoring import SIGNAL_CAPS, SIGNAL_POINTS

    labels = dict(SignalKind.choices)
    rows = lead.signals.values("kind").annotate(count=Count("id"), points=Sum("points")).order_by("-points", "kind")
    by_kind = [
        {
            "kind": row["kind"],
            "label": labels.get(row["kind"], row["kind"]),
            "count": row["count"],
            "points": row["points"],
        }
        for row in rows
    ]
    signals = [
        {"kind": s.kind, "points": s.points, "detail": s.detail, "at": s.at}
        for s in lead.signals.order_by("-at", "-id")[:recent]
    ]
    return {
        "lead_id": lead.pk,
        "score": lead.score,
        "total_from_signals": sum(row["points"] for row in by_kind),
        "by_kind": by_kind,
        "signals": signals,
        "points_table": [
            {"kind": kind, "label": labels[kind], "points": points, "cap": SIGNAL_CAPS.get(kind)}
            for kind, points in SIGNAL_POINTS.items()
        ],
    }


def owners_list() -> list:
    """Users who run the business: notified when nobody else is responsible."""
    users = get_user_model().objects.filter(is_active=True)
    return list(users.filter(Q(is_superuser=True) | Q(groups__name=OWNER_GROUP)).distinct().order_by("id"))


def agents_list() -> QuerySet:
    return get_user_model().objects.filter(is_active=True).order_by("username")


def appointment_list(*, user) -> QuerySet[Appointment]:
    appointments = Appointment.objects.select_related("lead", "contact", "lead__contact").order_by("start_at", "id")
    if user_is_agent_only(user):
        appointments = appointments.filter(
            Q(lead__isnull=True) | Q(lead__assigned_agent=user) | Q(lead__assigned_agent__isnull=True)
        )
    return appointments


def appointment_get(*, appointment_id: int, user) -> Appointment:
    appointment = appointment_list(user=user).filter(pk=appointment_id).first()
    if appointment is None:
        raise NotFound(f"Appointment {appointment_id} does not exist.")
    return appointment


def notification_list(*, user) -> QuerySet[Notification]:
    if not _is_person(user):
        return Notification.objects.none()
    return Notification.objects.filter(recipient=user).select_related("lead").order_by("-created_at", "-id")
