"""One Django storage for every media file, received or sent, namespaced per tenant.

It lives in the kernel (not in ``conversations`` or ``documents``) because both need it:
conversations stores what customers send and what we send, documents stores uploads and
thumbnails. ``TenantMediaStorage`` is ``STORAGES["default"]``; it picks a backend per call:

- Cloudinary when the tenant configured its own account, or ``MEDIA_STORAGE_BACKEND=cloudinary``
  globally (``CLOUDINARY_CLOUD_NAME`` / ``CLOUDINARY_API_KEY`` / ``CLOUDINARY_API_SECRET``);
- an S3-compatible bucket (S3, R2, MinIO) through django-storages with
  ``MEDIA_STORAGE_BACKEND=s3`` (``MEDIA_S3_*``);
- the local filesystem (``MEDIA_ROOT``) otherwise.

Every key starts with ``tenants/<schema>/``: the storage adds the prefix on save and refuses
to open another tenant's key, so a leaked name from tenant A never reads tenant B's file.
Files are shown only through :func:`media_link` (signed, expiring, bound to the tenant);
bucket URLs are never handed to a browser. Per-tenant credentials live in a tenant app
(documents' settings row, encrypted with ``bizmitra.crypto``); that app registers a provider
with :func:`register_tenant_backend_provider` so this kernel imports nothing above it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import filetype
import httpx
from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage
from django.db import connection
from django.urls import reverse
from django.utils.deconstruct import deconstructible
from django_tenants.utils import get_public_schema_name

logger = logging.getLogger(__name__)

KEY_ROOT = "tenants"

# Meta's per-type limits (FACTS.md §6, WA/business-phone-numbers/media). Stickers: the
# animated limit, since both kinds arrive as image/webp.
MEDIA_SIZE_LIMITS = {
    "image": 5 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "document": 100 * 1024 * 1024,
    "sticker": 500 * 1024,
}


class MediaRejected(Exception):
    """A media file we will not keep as it is (checksum, size); ``reason`` is for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- checks -----------------------------------------------------------------------------------


def media_sniff(data: bytes) -> str:
    """The MIME type the bytes really are (magic numbers), not the one the sender claimed."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        # A cut in the middle of a multi-byte character at the sample's end is still text.
        try:
            sample[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return "application/octet-stream"
    return "text/plain" if b"\x00" not in sample else "application/octet-stream"


def sha256_matches(data: bytes, expected: str) -> bool:
    """Meta's ``sha256`` is base64 in webhooks and hex in ``GET /<MEDIA_ID>``: accept both."""
    if not expected:
        return True
    digest = hashlib.sha256(data).digest()
    expected = expected.strip()
    return expected.lower() == digest.hex() or expected == base64.b64encode(digest).decode()


def media_check(*, data: bytes, kind: str, expected_sha256: str = "") -> str:
    """Check a downloaded file; return its sniffed MIME type or raise ``MediaRejected``."""
    if not sha256_matches(data, expected_sha256):
        raise MediaRejected("the file's sha256 does not match the one Meta sent (corrupted download)")
    limit = MEDIA_SIZE_LIMITS.get(kind, MEDIA_SIZE_LIMITS["document"])
    if len(data) > limit:
        raise MediaRejected(f"the {kind} is {len(data)} bytes; WhatsApp allows at most {limit} bytes")
    return media_sniff(data)


# -- keys -------------------------------------------------------------------------------------


def tenant_prefix(schema_name: str | None = None) -> str:
    return f"{KEY_ROOT}/{schema_name or connection.schema_name}/"


def _namespaced(name: str) -> str:
    name = name.replace("\\", "/").lstrip("/")
    prefix = tenant_prefix()
    return name if name.startswith(prefix) else prefix + name


def _check_owned(name: str) -> str:
    """The schema a key belongs to; refused unless it is the current one.

    The public schema (the platform itself: its admin, maintenance commands) may read any
    tenant's key; a tenant's schema only its own.
    """
    parts = name.split("/", 2)
    if len(parts) < 3 or parts[0] != KEY_ROOT or not parts[1]:
        raise SuspiciousFileOperation(f"{name!r} is not a tenant media key")
    current = connection.schema_name
    if parts[1] != current and current != get_public_schema_name():
        raise SuspiciousFileOperation(f"{name!r} does not belong to the schema {current!r}")
    return parts[1]


# -- backends ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudinaryAccount:
    cloud_name: str
    api_key: str
    api_secret: str
    upload_prefix: str = ""  # "" = Cloudinary itself; tests point it at a local stand-in


class CloudinaryStorage(Storage):
    """Files kept as Cloudinary ``raw`` resources of type ``authenticated``.

    ``raw`` keeps the bytes exactly as received (no recompression of a customer's invoice);
    ``authenticated`` means Cloudinary serves them only through signed, expiring download
    URLs. Written here because django-cloudinary-storage is unmaintained and cannot take
    credentials per tenant.
    """

    def __init__(self, account: CloudinaryAccount) -> None:
        self.account = account

    def _options(self) -> dict:
        options = {
            "cloud_name": self.account.cloud_name,
            "api_key": self.account.api_key,
            "api_secret": self.account.api_secret,
            "resource_type": "raw",
            "type": "authenticated",
        }
        if self.account.upload_prefix:
            options["upload_prefix"] = self.account.upload_prefix
        return options

    def _save(self, name: str, content: File) -> str:
        import cloudinary.uploader

        content.seek(0)
        data = content.read()
        answer = cloudinary.uploader.upload(
            io.BytesIO(data), public_id=name, overwrite=False, filename=name.rsplit("/", 1)[-1], **self._options()
        )
        return str(answer.get("public_id") or name)

    def download_url(self, name: str, *, seconds: int = 60) -> str:
        import cloudinary.utils

        return cloudinary.utils.private_download_url(name, "", expires_at=int(time.time()) + seconds, **self._options())

    def _open(self, name: str, mode: str = "rb") -> File:
        response = httpx.get(self.download_url(name), timeout=30)
        if response.status_code == 404:
            raise FileNotFoundError(name)
        response.raise_for_status()
        return ContentFile(response.content, name=name)

    def exists(self, name: str) -> bool:
        # Names carry a random part (see media_key), so a collision is not worth a round trip.
        return False

    def delete(self, name: str) -> None:
        import cloudinary.uploader

        cloudinary.uploader.destroy(name, invalidate=True, **self._options())

    def size(self, name: str) -> int:
        with self._open(name) as handle:
            return len(handle.read())

    def url(self, name: str) -> str:
        return self.download_url(name)


_TenantBackendProvider = Callable[[str], Storage | None]
_provider: list[_TenantBackendProvider] = []
_global_backend: dict[str, Storage] = {}
_lock = threading.Lock()


def register_tenant_backend_provider(provider: _TenantBackendProvider) -> None:
    """``provider(schema_name)`` returns the tenant's own backend, or None for the global one."""
    _provider[:] = [provider]


def global_backend() -> Storage:
    """The platform-wide backend chosen by ``MEDIA_STORAGE_BACKEND`` (built once per process)."""
    choice = getattr(settings, "MEDIA_STORAGE_BACKEND", "local") or "local"
    # Keyed by the settings it is built from, so a changed setting (tests) builds a new one.
    key = repr(
        (
            choice,
            settings.MEDIA_ROOT,
            getattr(settings, "MEDIA_S3_BUCKET", ""),
            getattr(settings, "MEDIA_S3_ENDPOINT_URL", ""),
            getattr(settings, "CLOUDINARY_CLOUD_NAME", ""),
            getattr(settings, "CLOUDINARY_UPLOAD_PREFIX", ""),
        )
    )
    with _lock:
        if key not in _global_backend:
            _global_backend.clear()
            _global_backend[key] = _build_global(choice)
        return _global_backend[key]


def _build_global(choice: str) -> Storage:
    if choice == "cloudinary":
        return CloudinaryStorage(
            CloudinaryAccount(
                cloud_name=settings.CLOUDINARY_CLOUD_NAME,
                api_key=settings.CLOUDINARY_API_KEY,
                api_secret=settings.CLOUDINARY_API_SECRET,
                upload_prefix=getattr(settings, "CLOUDINARY_UPLOAD_PREFIX", ""),
            )
        )
    if choice == "s3":
        from storages.backends.s3 import S3Storage

        return S3Storage(
            bucket_name=settings.MEDIA_S3_BUCKET,
            endpoint_url=settings.MEDIA_S3_ENDPOINT_URL or None,
            access_key=settings.MEDIA_S3_ACCESS_KEY_ID,
            secret_key=settings.MEDIA_S3_SECRET_ACCESS_KEY,
            region_name=settings.MEDIA_S3_REGION or None,
            default_acl=None,  # the bucket's own policy: private
            querystring_auth=True,  # any url() is presigned and expires
            querystring_expire=300,
            file_overwrite=False,
        )
    if choice != "local":
        raise ValueError(f"MEDIA_STORAGE_BACKEND={choice!r}: use local, s3 or cloudinary")
    return FileSystemStorage(location=settings.MEDIA_ROOT)


def backend_for(schema_name: str) -> Storage:
    for provider in _provider:
        try:
            own = provider(schema_name)
        except Exception:  # a broken tenant setting must not lose the file: fall back, loudly
            logger.exception("storage settings of %s unusable; using the global backend", schema_name)
            own = None
        if own is not None:
            return own
    return global_backend()


@deconstructible
class TenantMediaStorage(Storage):
    """``STORAGES["default"]``: tenant-namespaced keys on the backend the tenant uses."""

    def _backend(self) -> Storage:
        return backend_for(connection.schema_name)

    def generate_filename(self, filename: str) -> str:
        return _namespaced(super().generate_filename(filename))

    def _save(self, name: str, content: File) -> str:
        return self._backend().save(_namespaced(name), content)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return self._backend().get_available_name(_namespaced(name), max_length=max_length)

    # Reads choose the backend from the key's own schema, so the platform (public schema)
    # reads a file where its tenant stored it.
    def _open(self, name: str, mode: str = "rb") -> File:
        return backend_for(_check_owned(name)).open(name, mode)

    def delete(self, name: str) -> None:
        backend_for(_check_owned(name)).delete(name)

    def exists(self, name: str) -> bool:
        name = _namespaced(name)
        return backend_for(_check_owned(name)).exists(name)

    def size(self, name: str) -> int:
        return backend_for(_check_owned(name)).size(name)

    def path(self, name: str) -> str:
        return backend_for(_check_owned(name)).path(name)

    def url(self, name: str) -> str:
        # Never a bucket URL: the signed link through our own server.
        return media_link(name=name)


# -- links ------------------------------------------------------------------------------------

_LINK_SALT = "bizmitra.storage.media_link"


def media_link(*, name: str, seconds: int | None = None, download_name: str = "") -> str:
    """A path that serves ``name`` to whoever holds it, on this tenant's host, for a while.

    The token is signed with SECRET_KEY and names the schema, so it cannot be replayed on
    another tenant's domain or edited to point at another key; it expires after ``seconds``
    (``MEDIA_LINK_SECONDS``, 5 minutes by default).
    """
    schema_name = _check_owned(name)
    token = signing.dumps({"s": schema_name, "n": name, "d": download_name[:120]}, salt=_LINK_SALT)
    seconds = seconds or getattr(settings, "MEDIA_LINK_SECONDS", 300)
    expires = int(time.time()) + int(seconds)
    return reverse("media-file", kwargs={"token": token}) + f"?e={expires}&h={_link_mac(token, expires)}"


def _link_mac(token: str, expires: int) -> str:
    return signing.Signer(salt=_LINK_SALT + ".expiry").signature(f"{token}:{expires}")


@dataclass(frozen=True)
class MediaLinkTarget:
    name: str
    download_name: str


def media_link_resolve(*, token: str, expires: str, mac: str) -> MediaLinkTarget | None:
    """The key a link points at, or None when it is forged, expired or for another tenant."""
    try:
        expires_at = int(expires)
        data = signing.loads(token, salt=_LINK_SALT)
    except (ValueError, TypeError, signing.BadSignature):
        return None
    if not signing.constant_time_compare(mac or "", _link_mac(token, expires_at)):
        return None
    if expires_at < time.time() or data.get("s") != connection.schema_name:
        return None
    return MediaLinkTarget(name=data["n"], download_name=data.get("d") or "")
