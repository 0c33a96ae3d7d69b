"""Reactions to conversation events: live dashboard updates."""

from bizmitra.events import broadcast_live, listens_to


@listens_to("message.received", "message.status", "message.queued", "conversation.updated")
def push_to_live_inbox(*, event_name: str, schema_name: str, **payload) -> None:
    broadcast_live(schema_name=schema_name, event={"event": event_name, **payload})
