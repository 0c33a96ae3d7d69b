from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from conversations import listeners  # noqa: F401  (registers event listeners)
        from conversations.engine import admin as engine_admin  # noqa: F401  (bots, decisions, takeover)
        from conversations.engine import listeners as engine_listeners  # noqa: F401  (answers inbound messages)
