"""Leads and appointments API (tenant domain; API key, JWT or session).

Thin views: parse input, call one service or selector, render.
"""

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from bizmitra.errors import NotFound, ValidationFailed
from leads import selectors, services
from leads.api import serializers as s
from leads.csv_export import leads_csv_rows
from leads.filters import AppointmentFilter, LeadFilter
from leads.models import Appointment, Lead


class StandardPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200


def _validated(serializer_class, data, *, partial: bool = False) -> dict:
    serializer = serializer_class(data=data, partial=partial)
    if not serializer.is_valid():
        raise ValidationFailed("Invalid input.", fields=serializer.errors)
    return serializer.validated_data


def _filtered(filterset_class, request, queryset):
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise ValidationFailed("Invalid filter.", fields=filterset.errors)
    return filterset.qs


def _contact(contact_id):
    from conversations.models import Contact

    if contact_id is None:
        return None
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        raise ValidationFailed("Unknown contact.", fields={"contact": [f"Contact {contact_id} does not exist."]})
    return contact


def _paginated(view, request, queryset, serializer_class):
    paginator = StandardPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class _FilteredListApi(GenericAPIView):
    """Lists: the FilterSet is applied by ``_filtered`` (422 on bad input); declared here for the API docs."""

    pagination_class = StandardPagination


class LeadListCreateApi(_FilteredListApi):
    queryset = Lead.objects.none()
    filterset_class = LeadFilter
    serializer_class = s.LeadOutputSerializer

    @extend_schema(responses=s.LeadOutputSerializer(many=True))
    def get(self, request):
        leads = _filtered(LeadFilter, request, selectors.lead_list(user=request.user))
        return _paginated(self, request, leads, s.LeadOutputSerializer)

    @extend_schema(request=s.LeadCreateInputSerializer, responses={201: s.LeadOutputSerializer})
    def post(self, request):
        data = dict(_validated(s.LeadCreateInputSerializer, request.data))
        source = data.pop("source")
        contact = _contact(data.pop("contact", None))
        lead = services.lead_create(source=source, contact=contact, fields=data, actor=request.user)
        lead = selectors.lead_get(lead_id=lead.pk, user=request.user)
        return Response(s.LeadOutputSerializer(lead).data, status=status.HTTP_201_CREATED)


class LeadDetailApi(APIView):
    @extend_schema(responses=s.LeadOutputSerializer)
    def get(self, request, lead_id: int):
        lead = selectors.lead_get(lead_id=lead_id, user=request.user)
        return Response(s.LeadOutputSerializer(lead).data)

    @extend_schema(request=s.LeadInputSerializer, responses=s.LeadOutputSerializer)
    def patch(self, request, lead_id: int):
        lead = selectors.lead_get(lead_id=lead_id, user=request.user)
        fields = _validated(s.LeadInputSerializer, request.data, partial=True)
        services.lead_update(lead=lead, fields=dict(fields), actor=request.user)
        return Response(s.LeadOutputSerializer(selectors.lead_get(lead_id=lead_id, user=request.user)).data)


class LeadTransitionApi(APIView):
    @extend_schema(request=s.LeadTransitionInputSerializer, responses=s.LeadOutputSerializer)
    def post(self, request, lead_id: int):
        lead = selectors.lead_get(lead_id=lead_id, user=request.user)
        data = _validated(s.LeadTransitionInputSerializer, request.data)
        services.lead_transition(lead=lead, to=data["to"], reason=data["reason"], actor=request.user)
        return Response(s.LeadOutputSerializer(selectors.lead_get(lead_id=lead_id, user=request.user)).data)


class LeadScoreApi(APIView):
    @extend_schema(responses=s.LeadScoreOutputSerializer)
    def get(self, request, lead_id: int):
        lead = selectors.lead_get(lead_id=lead_id, user=request.user)
        return Response(selectors.lead_score_breakdown(lead=lead))


class LeadExportCsvApi(GenericAPIView):
    """The filtered lead list (same filters and search as the list) as a CSV download."""

    queryset = Lead.objects.none()
    filterset_class = LeadFilter

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV of leads")})
    def get(self, request):
        leads = _filtered(LeadFilter, request, selectors.lead_list(user=request.user))
        response = StreamingHttpResponse(leads_csv_rows(leads), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        return response


class AppointmentListCreateApi(_FilteredListApi):
    queryset = Appointment.objects.none()
    filterset_class = AppointmentFilter
    serializer_class = s.AppointmentOutputSerializer

    @extend_schema(responses=s.AppointmentOutputSerializer(many=True))
    def get(self, request):
        appointments = _filtered(AppointmentFilter, request, selectors.appointment_list(user=request.user))
        return _paginated(self, request, appointments, s.AppointmentOutputSerializer)

    @extend_schema(request=s.AppointmentCreateInputSerializer, responses={201: s.AppointmentOutputSerializer})
    def post(self, request):
        data = _validated(s.AppointmentCreateInputSerializer, request.data)
        lead = None
        if data.get("lead") is not None:
            try:
                lead = selectors.lead_get(lead_id=data["lead"], user=request.user)
            except NotFound as exc:
                raise ValidationFailed("Unknown lead.", fields={"lead": [exc.message]}) from exc
        appointment = services.appointment_book(
            lead=lead,
            contact=_contact(data.get("contact")),
            start_at=data["start_at"],
            end_at=data.get("end_at"),
            title=data.get("title", ""),
            notes=data.get("notes", ""),
            actor=request.user,
        )
        appointment = selectors.appointment_get(appointment_id=appointment.pk, user=request.user)
        return Response(s.AppointmentOutputSerializer(appointment).data, status=status.HTTP_201_CREATED)


class AppointmentDetailApi(APIView):
    @extend_schema(responses=s.AppointmentOutputSerializer)
    def get(self, request, appointment_id: int):
        appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
        return Response(s.AppointmentOutputSerializer(appointment).data)

    @extend_schema(request=s.AppointmentUpdateInputSerializer, responses=s.AppointmentOutputSerializer)
    def patch(self, request, appointment_id: int):
        appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
        data = _validated(s.AppointmentUpdateInputSerializer, request.data, partial=True)
        services.appointment_reschedule(appointment=appointment, actor=request.user, **data)
        appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
        return Response(s.AppointmentOutputSerializer(appointment).data)


class AppointmentCancelApi(APIView):
    @extend_schema(request=s.AppointmentCancelInputSerializer, responses=s.AppointmentOutputSerializer)
    def post(self, request, appointment_id: int):
        appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
        data = _validated(s.AppointmentCancelInputSerializer, request.data)
        services.appointment_cancel(appointment=appointment, reason=data["reason"], actor=request.user)
        appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
        return Response(s.AppointmentOutputSerializer(appointment).data)


class AppointmentCompleteApi(APIView):
    @extend_schema(request=None, responses=s.AppointmentOutputSerializer)
    def post(self, request, appointment_id: int):
        appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
        services.appointment_complete(appointment=appointment, actor=request.user)
        appointment = selectors.appointment_get(appointment_id=appointment_id, user=request.user)
        return Response(s.AppointmentOutputSerializer(appointment).data)


class NotificationListApi(GenericAPIView):
    # Generic, with its paginator named, so the schema declares the page it answers (issue 13 §0).
    pagination_class = StandardPagination
    filter_backends = ()

    @extend_schema(responses=s.NotificationOutputSerializer(many=True))
    def get(self, request):
        notifications = selectors.notification_list(user=request.user)
        if request.query_params.get("unread") in ("1", "true"):
            notifications = notifications.filter(read_at__isnull=True)
        return _paginated(self, request, notifications, s.NotificationOutputSerializer)


class NotificationReadApi(APIView):
    @extend_schema(request=None, responses=s.NotificationOutputSerializer)
    def post(self, request, notification_id: int):
        notification = selectors.notification_list(user=request.user).filter(pk=notification_id).first()
        if notification is None:
            raise NotFound(f"Notification {notification_id} does not exist.")
        notification = services.notification_mark_read(notification=notification)
        return Response(s.NotificationOutputSerializer(notification).data)
