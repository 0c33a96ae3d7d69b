"""Tenant admin of conversations: see conversations/admin_inbound.py, admin_inbox.py and admin_outbound.py."""

from conversations import admin_inbound, admin_inbox, admin_outbound  # noqa: F401
from conversations.ai import admin as ai_admin  # noqa: F401
