"""The OpenAI-compatible chat completions endpoint, through the ``openai`` client.

``OPENAI_BASE_URL`` may be any server that speaks ``POST /v1/chat/completions`` (OpenAI,
a gateway, a local model server). Retries are off (``max_retries=0``): a customer is
waiting, and the engine answers with the tenant's fallback template instead of retrying.
Errors come out as two exceptions only, ``AITimeout`` and ``AIError``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import openai
from django.conf import settings

# The client refuses to start without a key; servers that need none (local models) get this.
NO_KEY_PLACEHOLDER = "no-key-configured"


class AITimeout(Exception):
    """The endpoint did not answer within the timeout."""


class AIError(Exception):
    """The endpoint failed: HTTP error status, connection refused, unreadable response."""


@dataclass(frozen=True)
class RawToolCall:
    """A tool call as the model sent it; nothing about it is trusted yet."""

    id: str
    name: str
    arguments: str
    type: str = "function"


@dataclass
class Completion:
    text: str
    tool_calls: list[RawToolCall]
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    finish_reason: str = ""
    usage_reported: bool = True
    # The assistant message to send back in the next round, as the API expects it.
    assistant_message: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
_clients: dict[tuple[int, str, str], openai.OpenAI] = {}


def _client(*, base_url: str, api_key: str) -> openai.OpenAI:
    # One client (and its connection pool) per process, endpoint and key; the pool must
    # not be shared across a fork (Celery prefork).
    cache_key = (os.getpid(), base_url, api_key)
    with _lock:
        client = _clients.get(cache_key)
        if client is None:
            client = openai.OpenAI(base_url=base_url, api_key=api_key or NO_KEY_PLACEHOLDER, max_retries=0)
            _clients[cache_key] = client
        return client


def chat_complete(
    *,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    temperature: float,
    timeout: float,
    api_key: str = "",
    tool_choice: str | None = None,
    base_url: str = "",
) -> Completion:
    """One chat completion; raises ``AITimeout`` or ``AIError``. ``base_url``/``api_key``: the
    tenant's own endpoint and key, empty for the platform's."""
    client = _client(base_url=base_url or settings.OPENAI_BASE_URL, api_key=api_key or settings.OPENAI_API_KEY)
    kwargs: dict[str, Any] = {"model": model, "messages": messages, "temperature": temperature, "timeout": timeout}
    if tools:
        kwargs["tools"] = tools
        if tool_choice:
            kwargs["tool_choice"] = tool_choice
    started = time.monotonic()
    try:
        response = client.chat.completions.create(**kwargs)
    except openai.APITimeoutError as exc:
        raise AITimeout(f"no answer within {timeout:g}s") from exc
    except openai.APIStatusError as exc:
        raise AIError(f"HTTP {exc.status_code}: {_short(exc.message)}") from exc
    except openai.OpenAIError as exc:
        raise AIError(f"{type(exc).__name__}: {_short(str(exc))}") from exc
    latency_ms = int((time.monotonic() - started) * 1000)
    return _completion(response, messages=messages, latency_ms=latency_ms)


def _completion(response, *, messages, latency_ms: int) -> Completion:
    choices = getattr(response, "choices", None) or []
    if not choices or getattr(choices[0], "message", None) is None:
        raise AIError("the response has no choices")
    choice = choices[0]
    message = choice.message
    text = message.content if isinstance(message.content, str) else ""
    tool_calls = []
    for call in message.tool_calls or []:
        function = getattr(call, "function", None)
        tool_calls.append(
            RawToolCall(
                id=str(getattr(call, "id", "") or ""),
                type=str(getattr(call, "type", "") or ""),
                name=str(getattr(function, "name", "") or "") if function is not None else "",
                arguments=_arguments_text(getattr(function, "arguments", None)) if function is not None else "",
            )
        )
    usage = getattr(response, "usage", None)
    if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
        prompt_tokens, completion_tokens, reported = int(usage.prompt_tokens), int(usage.completion_tokens or 0), True
    else:
        # Some compatible servers omit usage; count ~4 characters a token so the budget still holds.
        prompt_tokens = len(json.dumps(messages)) // 4
        completion_tokens = (len(text) + sum(len(c.arguments) for c in tool_calls)) // 4
        reported = False
    assistant: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        assistant["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in tool_calls
        ]
    return Completion(
        text=(text or "").strip(),
        tool_calls=tool_calls,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=latency_ms,
        finish_reason=str(getattr(choice, "finish_reason", "") or ""),
        usage_reported=reported,
        assistant_message=assistant,
    )


def _arguments_text(arguments) -> str:
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return arguments
    # A non-conforming server sent an object instead of a JSON string: keep it as JSON text,
    # validation decides.
    return json.dumps(arguments)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
