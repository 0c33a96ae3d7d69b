"""The appointments agenda (day / week) and its writes: book, reschedule, cancel.

Thin: times typed in the browser are wall-clock times in the tenant's zone; they become aware
datetimes here, and the appointment services (the same as the API's) do the rest — calendar
sync, and the ``appointment.*`` events the reminder workflows listen to.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from bizmitra.errors import ValidationFailed
from conversations.dashboard.views import handles_errors
from leads import hooks, selectors, services
from leads.choices import AppointmentStatus
from tenants.selectors import tenant_timezone

DURATIONS = [(15, "15 min"), (30, "30 min"), (45, "45 min"), (60, "1 hour"), (90, "1½ hours"), (120, "2 hours")]


def _day(value: str, *, today: date) -> date:
    try:
        return date.fromisoformat(value) if value else today
    except ValueError:
        return today


def _local_datetime(value: str, *, field: str):
    """An ``<input type=datetime-local>`` value as an aware datetime in the tenant's zone."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise ValidationFailed("Pick a date and time.", fields={field: ["Pick a date and time."]}) from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=tenant_timezone())


def _duration(value: str) -> timedelta:
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        minutes = 0
    if minutes not in dict(DURATIONS):
        raise ValidationFailed("Pick a length from the list.", fields={"duration": ["Pick a length from the list."]})
    return timedelta(minutes=minutes)


def _back(request: HttpRequest, when: datetime, view: str = "day") -> HttpResponse:
    url = f"{reverse('dashboard-appointments')}?view={view}&date={timezone.localtime(when, tenant_timezone()).date()}"
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


@login_required
@handles_errors
@require_GET
def agenda(request: HttpRequest) -> HttpResponse:
    tz = tenant_timezone()
    with timezone.override(tz):
        today = timezone.localdate()
        view = "week" if request.GET.get("view") == "week" else "day"
        day = _day(request.GET.get("date", ""), today=today)
        first = day - timedelta(days=day.weekday()) if view == "week" else day
        count = 7 if view == "week" else 1
        start = datetime.combine(first, time.min, tzinfo=tz)
        end = start + timedelta(days=count)
        appointments = (
            selectors.appointment_list(user=request.user)
            .filter(start_at__gte=start, start_at__lt=end)
            .exclude(status=AppointmentStatus.CANCELLED)
        )
        days = {first + timedelta(days=i): [] for i in range(count)}
        appointments = list(appointments)
        plans = hooks.appointment_messages([a.pk for a in appointments])
        for appointment in appointments:
            appointment.plan = plans.get(appointment.pk, [])
            appointment.minutes = int((appointment.end_at - appointment.start_at).total_seconds() // 60)
            days[timezone.localtime(appointment.start_at).date()].append(appointment)
        step = timedelta(days=count)
        context = {
            "view": view,
            "day": day,
            "days": list(days.items()),
            "today": today,
            "prev": first - step,
            "next": first + step,
            "durations": DURATIONS,
            "total": sum(len(v) for v in days.values()),
            "timezone": tz.key,
        }
        return render(request, "leads/agenda.html", context)


@login_required
@handles_errors
@require_POST
def appointment_book(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.lead_get(lead_id=lead_id, user=request.user)
    start_at = _local_datetime(request.POST.get("start", ""), field="start")
    appointment = services.appointment_book(
        lead=lead,
        start_at=start_at,
        end_at=start_at + _duration(request.POST.get("duration", "")),
        title=request.POST.get("title", "").strip()[:200] or "Appointment",
        notes=request.POST.get("notes", ""),
        actor=request.user,
    )
    return _back(request, appointment.start_at)


@login_required
@handles_errors
@require_POST
def appointment_reschedule(request: HttpRequest, appointment_id: int) -> HttpResponse:
    appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
    start_at = _local_datetime(request.POST.get("start", ""), field="start")
    appointment = services.appointment_reschedule(
        appointment=appointment,
        start_at=start_at,
        end_at=start_at + _duration(request.POST.get("duration", "")),
        actor=request.user,
    )
    return _back(request, appointment.start_at, request.POST.get("view", "day"))


@login_required
@handles_errors
@require_POST
def appointment_cancel(request: HttpRequest, appointment_id: int) -> HttpResponse:
    appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
    services.appointment_cancel(
        appointment=appointment, reason=request.POST.get("reason", "")[:500], actor=request.user
    )
    return _back(request, appointment.start_at, request.POST.get("view", "day"))
