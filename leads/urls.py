"""Dashboard pages of the leads app (tenant domain, session auth): board, lead page, analytics."""

from django.urls import path

from leads.dashboard import views as board

urlpatterns = [
    path("leads/", board.leads_board, name="dashboard-leads"),
    path("leads/<int:lead_id>/", board.lead_detail, name="dashboard-lead"),
    path("leads/<int:lead_id>/move/", board.lead_move, name="dashboard-lead-move"),
]
