"""Live dashboard: every event of the tenant pushed to its open inboxes.

Dashboard events (those naming a ``conversation_id``) are checked against the viewer's role
— an agent only hears about conversations they may open (``conversation_visible_q``) — and
stamped with the server time ``at``, which the page sends back after a reconnect to catch up
on what it missed (``/inbox/catchup/?since=``).
"""

import time

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from bizmitra.channels_tenancy import CLOSE_UNAUTHENTICATED, tenant_database_sync_to_async
from bizmitra.events import live_group_name
from conversations.selectors import conversation_summary, user_is_owner


class LiveInboxConsumer(AsyncJsonWebsocketConsumer):
    """A signed-in owner/agent watching their tenant's conversations live."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accepted first so the client gets our close code, not a bare 403.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="sign in first")
            return
        self.is_owner = await self._is_owner()
        self.group_name = live_group_name(self.scope["tenant"].schema_name)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        await self.send_json({"event": "hello", "now": time.time(), **(await self._summary())})

    @tenant_database_sync_to_async
    def _summary(self) -> dict:
        return conversation_summary()

    @tenant_database_sync_to_async
    def _is_owner(self) -> bool:
        return user_is_owner(self.scope["user"])

    @tenant_database_sync_to_async
    def _may_see(self, conversation_id) -> bool:
        from conversations.dashboard.selectors import conversation_is_visible

        try:
            return conversation_is_visible(user=self.scope["user"], conversation_id=int(conversation_id))
        except (TypeError, ValueError):
            return False

    async def disconnect(self, code):
        if hasattr(self, "group_name"):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def live_events(self, message):
        """A run of events published together (``bizmitra.events``): each is forwarded on its
        own, in order, so the page handles one event per websocket message."""
        for event in message["events"]:
            await self._forward(event)

    async def live_event(self, message):
        await self._forward(message["event"])

    async def _forward(self, event):
        conversation_id = event.get("conversation_id") if isinstance(event, dict) else None
        if conversation_id is not None:
            if not self.is_owner and not await self._may_see(conversation_id):
                return
            event = {**event, "at": time.time()}
        await self.send_json(event)
