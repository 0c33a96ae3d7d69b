"""The engine's reactions to domain events: answer every newly received inbound message."""

from bizmitra.events import listens_to


@listens_to("message.received")
def answer_inbound_message(*, event_name: str, schema_name: str, message_id: int, **payload) -> None:
    from conversations.engine.tasks import engine_handle_message_task

    # Listeners run on commit, when the connection may already be back in another schema:
    # name the tenant's schema for tenant-schemas-celery explicitly.
    engine_handle_message_task.apply_async(kwargs={"message_id": message_id}, headers={"_schema_name": schema_name})
