"""Who did something, for audit trails: one way to read an actor (conversations' bot and
handoff logs, the leads' timeline)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

SYSTEM_ACTOR = "system"


def actor_split(by) -> tuple[object | None, str]:
    """(person or None, label for audit rows) of ``by``: a user, an API-key principal, a label
    naming a system actor ("schedule", "engine:capture_lead"), or None (the system)."""
    if isinstance(by, get_user_model()):
        return by, by.get_username()[:150]
    if by is None:
        return None, SYSTEM_ACTOR
    return None, str(by)[:150]
