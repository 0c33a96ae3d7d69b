from django.urls import path

from leads.analytics.views import AnalyticsApi
from leads.api import views

urlpatterns = [
    path("leads/", views.LeadListCreateApi.as_view(), name="lead-list"),
    path("leads/export.csv", views.LeadExportCsvApi.as_view(), name="lead-export-csv"),
    path("leads/<int:lead_id>/", views.LeadDetailApi.as_view(), name="lead-detail"),
    path("leads/<int:lead_id>/transition/", views.LeadTransitionApi.as_view(), name="lead-transition"),
    path("leads/<int:lead_id>/score/", views.LeadScoreApi.as_view(), name="lead-score"),
    path("appointments/", views.AppointmentListCreateApi.as_view(), name="appointment-list"),
    path("appointments/<int:appointment_id>/", views.AppointmentDetailApi.as_view(), name="appointment-detail"),
    path("appointments/<int:appointment_id>/cancel/", views.AppointmentCancelApi.as_view(), name="appointment-cancel"),
    path(
        "appointments/<int:appointment_id>/complete/",
        views.AppointmentCompleteApi.as_view(),
        name="appointment-complete",
    ),
    path("analytics/", AnalyticsApi.as_view(), name="analytics"),
    path("notifications/", views.NotificationListApi.as_view(), name="notification-list"),
    path("notifications/<int:notification_id>/read/", views.NotificationReadApi.as_view(), name="notification-read"),
]
