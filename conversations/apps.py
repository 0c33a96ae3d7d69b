from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from bizmitra.config_cache import config_models_watch
        from bizmitra.periodic import periodic_tasks_register
        from conversations import listeners  # noqa: F401  (registers event listeners)
        from conversations import metrics as conversations_metrics  # noqa: F401  (dead letters, parked statuses)
        from conversations.engine import admin as engine_admin  # noqa: F401  (bots, decisions, takeover)
        from conversations.engine import flow_rules
        from conversations.engine import listeners as engine_listeners  # noqa: F401  (answers inbound messages)
        from conversations.engine.services import engine_periodic_tasks_ensure
        from conversations.models import AIAssistantSettings, Bot, BotPhoneNumber, HandoffSettings, WorkingHours
        from conversations.services.outbound import outbound_periodic_tasks_ensure
        from conversations.whatsapp.ingest import webhook_periodic_tasks_ensure

        periodic_tasks_register(
            outbound_periodic_tasks_ensure, webhook_periodic_tasks_ensure, engine_periodic_tasks_ensure
        )
        from conversations.services.sweeps import sweeps_periodic_tasks_ensure

        periodic_tasks_register(sweeps_periodic_tasks_ensure)  # lost media fetches, parked statuses
        flow_rules.install()  # templates' hooks: bot names, test sends, a bot's rules go with it
        # The engine reads these from a per-process snapshot (conversations.engine.bots).
        config_models_watch(
            Bot, BotPhoneNumber, WorkingHours, HandoffSettings, AIAssistantSettings, dispatch_prefix="conversations"
        )
