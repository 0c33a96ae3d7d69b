"""Routes of the engine API, mounted under /api/ on the tenant's domain (bizmitra/urls_tenant.py)."""

from django.urls import path

from conversations.engine import api

urlpatterns = [
    path("conversations/<int:pk>/handoff/", api.ConversationHandoffApi.as_view(), name="api-conversation-handoff"),
    path(
        "conversations/<int:pk>/return-to-bot/",
        api.ConversationReturnToBotApi.as_view(),
        name="api-conversation-return-to-bot",
    ),
    path("conversations/<int:pk>/reply/", api.ConversationReplyApi.as_view(), name="api-conversation-reply"),
    path("bots/", api.BotListApi.as_view(), name="api-bot-list"),
    path("bots/<int:pk>/", api.BotDetailApi.as_view(), name="api-bot-detail"),
    path("bots/<int:pk>/enable/", api.BotEnableApi.as_view(), name="api-bot-enable"),
    path("bots/<int:pk>/disable/", api.BotDisableApi.as_view(), name="api-bot-disable"),
    path("bots/<int:pk>/schedules/", api.BotScheduleListApi.as_view(), name="api-bot-schedules"),
]
