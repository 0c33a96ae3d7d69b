"""The engine's reactions to domain events: answer every newly stored inbound message."""

from bizmitra.events import listens_to


@listens_to("messages.received")
def answer_inbound_messages(*, event_name: str, schema_name: str, message_ids: list[int], **payload) -> None:
    from conversations.engine.tasks import engine_handle_messages_task

    # One task per stored webhook part: its messages are answered in order, without one
    # queue hop each. Listeners run on commit, when the connection may already be back in
    # another schema: name the tenant's schema for tenant-schemas-celery explicitly.
    engine_handle_messages_task.apply_async(kwargs={"message_ids": message_ids}, headers={"_schema_name": schema_name})
