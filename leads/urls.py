"""Dashboard pages of the leads app (tenant domain, session auth): board, lead page, analytics."""

from django.urls import path

from leads.analytics import views as analytics
from leads.dashboard import views as board

urlpatterns = [
    path("leads/", board.leads_board, name="dashboard-leads"),
    path("leads/<int:lead_id>/", board.lead_detail, name="dashboard-lead"),
    path("leads/<int:lead_id>/move/", board.lead_move, name="dashboard-lead-move"),
    path("analytics/", analytics.analytics_page, name="dashboard-analytics"),
    path("analytics/<slug:chart>.csv", analytics.analytics_csv, name="dashboard-analytics-csv"),
]
