"""What templates needs from ``conversations``, the app above it, without importing it.

Flow rules name a bot by id and the admin can send a template to a test number; bots and
the outbound pipeline live in ``conversations`` (which depends on templates, never the
other way round). ``ConversationsConfig.ready`` plugs the real functions in through
``install``; without it templates knows no bot and cannot send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _no_bots() -> dict[int, str]:
    return {}


# () -> {bot id: name} of the current tenant's bots (call inside its schema).
bot_names: Callable[[], dict[int, str]] = _no_bots
# (to=, type=, content=, idempotency_key=, sent_by=) -> the queued message, like
# ``conversations.services.outbound.message_send``; None: sending is not installed.
message_send: Callable[..., Any] | None = None


def install(*, bot_names_getter: Callable[[], dict[int, str]], sender: Callable[..., Any]) -> None:
    global bot_names, message_send
    bot_names = bot_names_getter
    message_send = sender
