from django.urls import path

from conversations.consumers import LiveInboxConsumer

websocket_urlpatterns = [
    path("ws/inbox/", LiveInboxConsumer.as_asgi()),
]
