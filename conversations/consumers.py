"""Live dashboard: every event of the tenant pushed to its open inboxes."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from bizmitra.channels_tenancy import CLOSE_UNAUTHENTICATED, tenant_database_sync_to_async
from bizmitra.events import live_group_name
from conversations.selectors import conversation_summary


class LiveInboxConsumer(AsyncJsonWebsocketConsumer):
    """A signed-in owner/agent watching their tenant's conversations live."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accepted first so the client gets our close code, not a bare 403.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="sign in first")
            return
        self.group_name = live_group_name(self.scope["tenant"].schema_name)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        await self.send_json({"event": "hello", **(await self._summary())})

    @tenant_database_sync_to_async
    def _summary(self) -> dict:
        return conversation_summary()

    async def disconnect(self, code):
        if hasattr(self, "group_name"):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def live_event(self, message):
        await self.send_json(message["event"])
