from django.urls import path

from conversations import views
from conversations.dashboard import views as dashboard

urlpatterns = [
    path("", dashboard.inbox, name="inbox"),
    path("soon/<slug:section>/", views.coming_soon, name="coming-soon"),
]
