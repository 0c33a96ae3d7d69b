"""The agent's short-term memory: the last messages of each conversation, in Redis.

One Redis list per tenant schema and contact holds JSON entries ``{"role", "content",
"message_id"}``, newest last, trimmed to ``MEMORY_WINDOW`` and expiring ``MEMORY_TTL_SECONDS``
after the last write (a customer who comes back after half an hour starts afresh, seeded
from the database). Each write is one MULTI/EXEC, so appends from parallel workers never
lose the trim or the expiry.

The agent appends the customer message it answers; the conversation engine appends what it
sends (``memory_append(role="assistant", ...)``) and, when a rule answered, the customer
message too, so the AI sees what the rules said.
"""

from __future__ import annotations

import json

from conversations.ai.store import ai_key, redis_client
from conversations.choices import Direction, MessageType

MEMORY_WINDOW = 10
MEMORY_TTL_SECONDS = 30 * 60
ROLES = ("user", "assistant")
# A single message beyond this is cut: it is re-sent with every AI call for half an hour.
CONTENT_MAX_CHARS = 2_000


def memory_key(*, schema_name: str, contact_id: int) -> str:
    return ai_key("mem", schema_name, contact_id)


def memory_get(*, schema_name: str, contact_id: int) -> list[dict]:
    """The remembered window, oldest first; ``[]`` when nothing is remembered."""
    raw = redis_client().lrange(memory_key(schema_name=schema_name, contact_id=contact_id), 0, -1)
    return [_decode(item) for item in raw]


def memory_append(
    *, schema_name: str, contact_id: int, role: str, content: str, message_id: int | None = None
) -> list[dict]:
    """Add one message to a contact's window (keeping the last ``MEMORY_WINDOW``) and
    restart its 30-minute expiry; returns the window after the append.

    ``role`` is ``"user"`` (the customer) or ``"assistant"`` (the business: bot or staff).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    key = memory_key(schema_name=schema_name, contact_id=contact_id)
    entry = json.dumps({"role": role, "content": _clip(content), "message_id": message_id})
    pipe = redis_client().pipeline(transaction=True)
    pipe.rpush(key, entry)
    pipe.ltrim(key, -MEMORY_WINDOW, -1)
    pipe.expire(key, MEMORY_TTL_SECONDS)
    pipe.lrange(key, 0, -1)
    *_, window = pipe.execute()
    return [_decode(item) for item in window]


def memory_get_many(*, schema_name: str, contact_ids: list[int]) -> dict[int, list[dict]]:
    """``memory_get`` of several contacts in one round trip."""
    pipe = redis_client().pipeline(transaction=False)
    for contact_id in contact_ids:
        pipe.lrange(memory_key(schema_name=schema_name, contact_id=contact_id), 0, -1)
    windows = pipe.execute()
    return {contact_id: [_decode(item) for item in raw] for contact_id, raw in zip(contact_ids, windows, strict=True)}


def memory_append_many(*, schema_name: str, rows: list[tuple[int, str, str, int | None]]) -> None:
    """``memory_append`` of ``(contact_id, role, content, message_id)`` rows, in order, in one
    MULTI/EXEC (the engine's batched decisions)."""
    if not rows:
        return
    pipe = redis_client().pipeline(transaction=True)
    keys = []
    for contact_id, role, content, message_id in rows:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        key = memory_key(schema_name=schema_name, contact_id=contact_id)
        pipe.rpush(key, json.dumps({"role": role, "content": _clip(content), "message_id": message_id}))
        keys.append(key)
    for key in dict.fromkeys(keys):
        pipe.ltrim(key, -MEMORY_WINDOW, -1)
        pipe.expire(key, MEMORY_TTL_SECONDS)
    pipe.execute()


def memory_replace(*, schema_name: str, contact_id: int, entries: list[dict]) -> list[dict]:
    """Set a contact's window to ``entries`` (the last ``MEMORY_WINDOW`` of them)."""
    key = memory_key(schema_name=schema_name, contact_id=contact_id)
    entries = entries[-MEMORY_WINDOW:]
    pipe = redis_client().pipeline(transaction=True)
    pipe.delete(key)
    if entries:
        pipe.rpush(key, *(json.dumps({**e, "content": _clip(e["content"])}) for e in entries))
        pipe.expire(key, MEMORY_TTL_SECONDS)
    pipe.execute()
    return entries


def memory_seed(*, schema_name: str, conversation) -> list[dict]:
    """Fill an empty window from the conversation's last messages in the database.

    Call inside the tenant's schema. Messages without text (reactions, read receipts,
    system notices) are left out; media become a short marker such as ``[image]``.
    """
    from conversations.models import Message

    recent = (
        Message.objects.filter(conversation=conversation)
        .exclude(type__in=_NOT_CONVERSATION)
        .order_by("-timestamp", "-id")[: MEMORY_WINDOW * 2]
    )
    entries = []
    for message in reversed(list(recent)):
        content = message_text(message)
        if content:
            role = "user" if message.direction == Direction.INBOUND else "assistant"
            entries.append({"role": role, "content": content, "message_id": message.pk})
    return memory_replace(schema_name=schema_name, contact_id=conversation.contact_id, entries=entries)


def memory_clear(*, schema_name: str, contact_id: int) -> None:
    redis_client().delete(memory_key(schema_name=schema_name, contact_id=contact_id))


_NOT_CONVERSATION = (MessageType.REACTION, MessageType.MARK_READ, MessageType.SYSTEM)


def message_text(message) -> str:
    """What a stored message said, as text for the model."""
    text = (message.body or "").strip()
    if message.type in (MessageType.TEXT, ""):
        return text
    if message.type in (MessageType.BUTTON_REPLY, MessageType.LIST_REPLY, MessageType.BUTTON):
        return (message.payload_title or text).strip()
    if message.type == MessageType.INTERACTIVE:
        return text or "[menu]"
    if message.type == MessageType.TEMPLATE:
        # Outbound template rows keep the template's name as their body.
        return f"[template {text}]" if text else "[template]"
    return f"[{message.type}] {text}".strip()


def _clip(content: str) -> str:
    content = str(content or "")
    return content if len(content) <= CONTENT_MAX_CHARS else content[: CONTENT_MAX_CHARS - 1] + "…"


def _decode(raw: str) -> dict:
    entry = json.loads(raw)
    return {"role": entry["role"], "content": entry["content"], "message_id": entry.get("message_id")}
