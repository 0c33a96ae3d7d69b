"""GET routes of the read API, mounted under /api/ on the tenant's domain.

Explicit paths rather than a router: ``POST /api/messages/`` belongs to the send
API (send_urls.py), and a router would claim the whole ``messages/`` prefix.
"""

from django.urls import path

from conversations.api import read_views

urlpatterns = [
    path("contacts/", read_views.ContactListApi.as_view(), name="api-contact-list"),
    path("contacts/<int:pk>/", read_views.ContactDetailApi.as_view(), name="api-contact-detail"),
    path("conversations/", read_views.ConversationListApi.as_view(), name="api-conversation-list"),
    path("conversations/<int:pk>/", read_views.ConversationDetailApi.as_view(), name="api-conversation-detail"),
    path(
        "conversations/<int:pk>/messages/",
        read_views.ConversationMessageListApi.as_view(),
        name="api-conversation-messages",
    ),
    path("messages/<int:pk>/", read_views.MessageDetailApi.as_view(), name="api-message-detail"),
    path("messages/<int:pk>/media/", read_views.MessageMediaApi.as_view(), name="api-message-media"),
]
