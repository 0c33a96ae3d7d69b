"""The Redis connection and key names of the AI assistant's counters and memory.

Every key starts with ``CACHES["default"]["KEY_PREFIX"]`` (one per deployment, one per
test run) and carries the tenant's schema name, so tenants and parallel runs never share
a counter or a conversation window.
"""

from __future__ import annotations

import os
import threading

import redis
from django.conf import settings

_lock = threading.Lock()
_clients: dict[int, redis.Redis] = {}


def redis_client() -> redis.Redis:
    # One client per process: a pool inherited through fork (Celery prefork) must not be
    # shared with the parent.
    pid = os.getpid()
    with _lock:
        client = _clients.get(pid)
        if client is None:
            client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
            _clients[pid] = client
        return client


def ai_key(*parts: object) -> str:
    """``<KEY_PREFIX>:ai:<part>:<part>…``"""
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    return ":".join([prefix, "ai", *(str(p) for p in parts)])
