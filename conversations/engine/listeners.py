"""The engine's reactions to domain events: answer every newly stored inbound message."""

from bizmitra.events import listens_to

ENGINE_TASK_CHUNK = 20


@listens_to("messages.received")
def answer_inbound_messages(*, event_name: str, schema_name: str, message_ids: list[int], **payload) -> None:
    from conversations.engine.tasks import engine_handle_messages_task

    # A task per chunk of a stored webhook part: few queue hops, and a big part is shared by
    # the engine's worker processes (the engine keeps each conversation's order itself).
    # Listeners run on commit, when the connection may already be back in another schema:
    # name the tenant's schema for tenant-schemas-celery explicitly.
    for start in range(0, len(message_ids), ENGINE_TASK_CHUNK):
        engine_handle_messages_task.apply_async(
            kwargs={"message_ids": message_ids[start : start + ENGINE_TASK_CHUNK]},
            headers={"_schema_name": schema_name},
        )
