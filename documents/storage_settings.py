"""A tenant's own media storage (its Cloudinary account), handed to ``bizmitra.storage``.

Registered from ``DocumentsConfig.ready`` so the kernel storage imports nothing above it.
Looked up at most every ``CACHE_SECONDS`` per process: every media save or open asks.
"""

from __future__ import annotations

import threading
import time

from django.core.files.storage import Storage
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context

from bizmitra.storage import CloudinaryAccount, CloudinaryStorage

CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, Storage | None]] = {}
_lock = threading.Lock()


def tenant_backend(schema_name: str) -> Storage | None:
    if schema_name == get_public_schema_name():
        return None
    with _lock:
        hit = _cache.get(schema_name)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    backend = _load(schema_name)
    with _lock:
        _cache[schema_name] = (time.monotonic() + CACHE_SECONDS, backend)
    return backend


def tenant_backend_forget(schema_name: str | None = None) -> None:
    """Drop the cached choice (after the settings changed)."""
    with _lock:
        _cache.pop(schema_name or connection.schema_name, None)


def _load(schema_name: str) -> Storage | None:
    from documents.choices import StorageChoice
    from documents.models import DocumentSettings

    with schema_context(schema_name):
        row = DocumentSettings.objects.filter(pk=1).first()
    if row is None or row.storage != StorageChoice.CLOUDINARY:
        return None
    if not (row.cloudinary_cloud_name and row.cloudinary_api_key and row.cloudinary_api_secret):
        raise ValueError("Cloudinary is chosen but its cloud name, API key or secret is missing")
    return CloudinaryStorage(
        CloudinaryAccount(
            cloud_name=row.cloudinary_cloud_name,
            api_key=row.cloudinary_api_key,
            api_secret=str(row.cloudinary_api_secret),
            upload_prefix=row.cloudinary_upload_prefix,
        )
    )
