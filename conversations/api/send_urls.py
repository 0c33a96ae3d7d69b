"""POST routes of the send API, mounted under /api/ on the tenant's domain."""

from django.urls import path

from conversations.api.send_views import MessageSendApi

urlpatterns = [
    path("messages/", MessageSendApi.as_view(), name="api-message-send"),
]
