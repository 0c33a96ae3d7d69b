"""Models of the conversations app, one module per aggregate.

- ``core``: contacts, conversations, messages and statuses waiting for their message;
- ``engine``: bots, their hours and schedules, handoffs, the engine's decisions and each
  contact's flow state;
- ``ai``: the AI assistant's settings, call logs and website-knowledge jobs;
- ``inbox``: the team inbox's read state, notes, labels, saved replies and activity.
"""

from conversations.models.ai import (
    KNOWLEDGE_MAX_CHARS,
    AIAssistantSettings,
    AICallLog,
    AIToolCallLog,
    KnowledgeFetchJob,
)
from conversations.models.core import Contact, Conversation, Message, OutboundMessage, PendingStatus
from conversations.models.engine import (
    DEFAULT_AUTO_RETURN_MINUTES,
    DEFAULT_AWAY_MESSAGE,
    DEFAULT_HANDOFF_MESSAGE,
    Bot,
    BotAuditLog,
    BotPhoneNumber,
    BotSchedule,
    ConversationState,
    EngineDecision,
    HandoffEvent,
    HandoffSettings,
    HumanTakeover,
    WorkingHours,
)
from conversations.models.engine import (
    validate_timezone as validate_timezone,  # migration 0004 refers to it by this path
)
from conversations.models.inbox import (
    CannedResponse,
    ConversationActivity,
    ConversationLabel,
    InboxSettings,
    InboxState,
    Label,
)

__all__ = [
    # Dashboard inbox (issue 10)
    "CannedResponse",
    "ConversationActivity",
    "ConversationLabel",
    "InboxSettings",
    "InboxState",
    "Label",
    "DEFAULT_AUTO_RETURN_MINUTES",
    "DEFAULT_AWAY_MESSAGE",
    "DEFAULT_HANDOFF_MESSAGE",
    "KNOWLEDGE_MAX_CHARS",
    "AIAssistantSettings",
    "AICallLog",
    "AIToolCallLog",
    "Bot",
    "BotAuditLog",
    "BotPhoneNumber",
    "BotSchedule",
    "Contact",
    "Conversation",
    "ConversationState",
    "EngineDecision",
    "HandoffEvent",
    "HandoffSettings",
    "HumanTakeover",
    "KnowledgeFetchJob",
    "Message",
    "OutboundMessage",
    "PendingStatus",
    "WorkingHours",
]
