from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.inbox, name="inbox"),
]
