"""Per-process snapshots of a tenant's configuration that every engine decision reads.

Bots, flow rules, templates with their buttons and the flow settings change a few times a
day and are read for every inbound message; reading them from PostgreSQL cost most of the
engine's 24–29 queries per decision (issue 9). A ``TenantConfigCache`` keeps one snapshot
per tenant schema in the process and rebuilds it when the tenant's configuration version
(one Redis key per tenant, through Django's cache, so keys carry the schema) has changed.

``config_changed()`` bumps the version. It is called from post_save/post_delete receivers
of the configuration models (registered by each app's ``AppConfig.ready``) because the
Django admin — where staff build templates and flows — saves models directly, and from
services that write with ``QuerySet.update``. It bumps twice: at once (so the writing
transaction itself sees its change) and again after commit (so another process that rebuilt
from not-yet-committed data in between rebuilds again).

Snapshots are shared by every caller in the process: treat them as read-only.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from django.core.cache import cache
from django.db import connection, transaction

T = TypeVar("T")

VERSION_KEY = "config-version"
_caches: list[TenantConfigCache] = []


_pinned = threading.local()


@contextmanager
def config_version_pinned() -> Iterator[None]:
    """Read each tenant's version once for the whole block (a batch of engine decisions
    reads the snapshots dozens of times; one Redis GET is enough for one transaction)."""
    outer = getattr(_pinned, "versions", None)
    if outer is not None:
        yield
        return
    _pinned.versions = {}
    try:
        yield
    finally:
        _pinned.versions = None


def config_version() -> str:
    """The current configuration version of the connection's tenant (created when missing:
    after a Redis restart every process rebuilds once)."""
    pinned = getattr(_pinned, "versions", None)
    if pinned is not None:
        schema_name = connection.schema_name
        if schema_name not in pinned:
            pinned[schema_name] = _version_read()
        return pinned[schema_name]
    return _version_read()


def _version_read() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)
    return version


def _bump() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    pinned = getattr(_pinned, "versions", None)
    if pinned is not None:
        pinned.pop(connection.schema_name, None)


def config_changed(**_signal_kwargs) -> None:
    """The tenant's configuration changed: every process rebuilds its snapshots (also a
    signal receiver, hence the ignored keyword arguments). Call inside the tenant's schema."""
    _bump()
    schema_name = connection.schema_name

    def after_commit() -> None:
        from django_tenants.utils import schema_context

        with schema_context(schema_name):
            _bump()

    transaction.on_commit(after_commit)


class TenantConfigCache(Generic[T]):
    """``get()`` returns ``build()``'s result for the connection's schema, rebuilt only when
    the tenant's configuration version changed since it was built."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, T]] = {}
        _caches.append(self)

    def get(self) -> T:
        schema_name = connection.schema_name
        version = config_version()
        entry = self._entries.get(schema_name)
        if entry is not None and entry[0] == version:
            return entry[1]
        snapshot = self._build()
        with self._lock:
            self._entries[schema_name] = (version, snapshot)
        return snapshot

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def local_caches_clear() -> None:
    """Forget every snapshot of this process (tests: a rolled-back test's rows must not
    survive in a snapshot built inside its transaction)."""
    for config_cache in _caches:
        config_cache.clear()


def config_models_watch(*models, dispatch_prefix: str) -> None:
    """Bump the tenant's configuration version whenever one of ``models`` is saved or
    deleted (call from ``AppConfig.ready``)."""
    from django.db.models.signals import post_delete, post_save

    for model in models:
        uid = f"{dispatch_prefix}.{model._meta.label_lower}"
        post_save.connect(config_changed, sender=model, dispatch_uid=f"{uid}.save", weak=False)
        post_delete.connect(config_changed, sender=model, dispatch_uid=f"{uid}.delete", weak=False)
