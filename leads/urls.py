"""Dashboard pages of the leads app (tenant domain, session auth): board, lead page, analytics."""

from django.urls import path

from leads.analytics import views as analytics
from leads.dashboard import agenda
from leads.dashboard import views as board

urlpatterns = [
    path("leads/", board.leads_board, name="dashboard-leads"),
    path("leads/bulk/", board.leads_bulk, name="dashboard-leads-bulk"),
    path("leads/<int:lead_id>/", board.lead_detail, name="dashboard-lead"),
    path("leads/<int:lead_id>/move/", board.lead_move, name="dashboard-lead-move"),
    path("leads/<int:lead_id>/book/", agenda.appointment_book, name="dashboard-appointment-book"),
    path("appointments/", agenda.agenda, name="dashboard-appointments"),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        agenda.appointment_reschedule,
        name="dashboard-appointment-reschedule",
    ),
    path("appointments/<int:appointment_id>/cancel/", agenda.appointment_cancel, name="dashboard-appointment-cancel"),
    path("analytics/", analytics.analytics_page, name="dashboard-analytics"),
    path("analytics/<slug:chart>.csv", analytics.analytics_csv, name="dashboard-analytics-csv"),
]
