"""Files sent by ``link``: our own copy, downloaded in the background (issue 12 §1).

Meta downloads a ``link`` itself when it sends the message; we download it too, in the
background (the default queue, never the replies worker's), so the thread keeps the file
after the link changes or expires, stored like every other file we send
(``services.media``: the tenant's storage, Meta's size limit for the type, the type
sniffed from the bytes, sha256 recorded). The URL comes from whoever called the send API,
and we fetch it from inside our network: http(s) only, every address of the host must be
public (or inside ``WHATSAPP_MEDIA_LINK_ALLOW_NETWORKS``, which only the test settings
fill), each redirect is checked again, and the connection goes to the address we checked
(the Host header and TLS SNI keep the name), so a DNS answer that changes between check and
connect (rebinding) cannot point us at an internal service.

A link we cannot keep never fails the send: the reason goes into ``Message.media_error``
(``media_status=failed``). A lost task is queued again by the media sweep
(``services.sweeps``). Everything here runs inside the tenant's schema.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import time
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from bizmitra.events import publish
from bizmitra.storage import MEDIA_SIZE_LIMITS, MediaRejected, media_check
from conversations.choices import Direction, MediaStatus
from conversations.models import Message
from conversations.services.media import (
    SENDABLE_TYPES,
    media_not_sendable_reason,
    message_media_failed,
    sent_media_key,
)

LINK_MAX_REDIRECTS = 3
LINK_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
LINK_USER_AGENT = "BizMitra-MediaKeeper/1.0"


class LinkFetchFailed(Exception):
    """A link we could not keep a copy of; ``reason`` is for people, ``retryable`` for the task."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def message_sent_link(message: Message) -> str:
    """The ``link`` an outbound media message sends its file by ("" when it has none)."""
    if message.direction != Direction.OUTBOUND or message.type not in SENDABLE_TYPES:
        return ""
    content = (message.payload or {}).get(message.type)
    link = content.get("link") if isinstance(content, dict) else None
    return link if isinstance(link, str) else ""


def message_media_link_owe(*, message: Message) -> bool:
    """Hook of ``message_send``: a message that sends a file by link owes our copy of it.

    Marks it ``media_status=pending`` and queues the download for after the commit (the
    media sweep queues it again if that task is lost). One statement, and only for link
    sends; every other message costs nothing here. Call inside the send's transaction.
    """
    if not message_sent_link(message):
        return False
    Message.objects.filter(pk=message.pk).update(media_status=MediaStatus.PENDING, media_error="")
    message.media_status, message.media_error = MediaStatus.PENDING, ""
    media_link_fetch_schedule(message_id=message.pk)
    return True


def media_link_fetch_schedule(*, message_id: int) -> None:
    """Enqueue the download of a sent link once the current transaction commits."""
    from conversations.tasks.inbound import media_link_fetch_task

    headers = {"_schema_name": connection.schema_name}  # on_commit runs outside tenant_context
    transaction.on_commit(lambda: media_link_fetch_task.apply_async(kwargs={"message_id": message_id}, headers=headers))


def message_media_link_fetch(*, message_id: int) -> bool:
    """Download the file an outbound message sent by link into ``Message.media_file``.

    Call inside the tenant's schema. Returns False when there is nothing to do (no link,
    not pending, message gone) or the link cannot be kept: the reason goes into
    ``media_error`` with ``media_status=failed``; the message itself, and its send, are
    never touched (Meta fetches the link on its own). A temporary failure (network, 5xx,
    429) is recorded in ``media_error``, the status stays ``pending``, and
    ``LinkFetchFailed(retryable=True)`` is raised for the task's retry policy. Safe to run
    twice at once: one file is attached, the other removed.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None or message.media_status != MediaStatus.PENDING:
        return False
    link = message_sent_link(message)
    if not link:
        return False
    kind = message.type
    try:
        data, final_url = link_download(link, limit=MEDIA_SIZE_LIMITS[kind])
    except LinkFetchFailed as exc:
        if not exc.retryable:
            message_media_failed(message_id=message_id, error=exc.reason)
            return False
        Message.objects.filter(pk=message_id, media_status=MediaStatus.PENDING).update(
            media_error=exc.reason[:255], updated_at=timezone.now()
        )
        raise
    try:
        mime_type = media_check(data=data, kind=kind)
    except MediaRejected as exc:
        message_media_failed(message_id=message_id, error=exc.reason)
        return False
    problem = media_not_sendable_reason(kind, mime_type)
    if problem:
        message_media_failed(message_id=message_id, error=f"the link serves {problem}")
        return False
    content = message.payload.get(kind) or {}
    filename = str(content.get("filename") or "") or unquote(urlsplit(final_url).path.rsplit("/", 1)[-1])
    stored = default_storage.save(sent_media_key(filename, mime_type), ContentFile(data))
    attached = Message.objects.filter(pk=message_id, media_status=MediaStatus.PENDING).update(
        media_file=stored,
        media_status=MediaStatus.DOWNLOADED,
        media_error="",
        media_mime_type=mime_type[:128],
        media_sha256=hashlib.sha256(data).hexdigest(),
        media_filename=message.media_filename or filename[:255],
        updated_at=timezone.now(),
    )
    if not attached:
        default_storage.delete(stored)
        return False
    # The open thread re-renders and shows our copy (the live inbox listens to this event).
    publish("conversation.updated", conversation_id=message.conversation_id)
    return True


def link_download(url: str, *, limit: int) -> tuple[bytes, str]:
    """The body behind ``url`` (at most ``limit`` bytes) and the URL it finally came from.

    Raises ``LinkFetchFailed``: refused URLs and addresses, 4xx answers and oversized
    bodies are permanent; network errors, 5xx, 429 and the wall-clock limit retryable.
    """
    deadline = time.monotonic() + settings.WHATSAPP_MEDIA_LINK_DEADLINE_SECONDS
    with httpx.Client(timeout=LINK_TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for _hop in range(LINK_MAX_REDIRECTS + 1):
            response = _link_get(client, url)
            try:
                if response.is_redirect and response.headers.get("location"):
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    retry = response.status_code >= 500 or response.status_code == 429
                    raise LinkFetchFailed(f"the link answered HTTP {response.status_code}", retryable=retry)
                return _body_within(response, limit=limit, deadline=deadline), url
            finally:
                response.close()
    raise LinkFetchFailed(f"the link redirects more than {LINK_MAX_REDIRECTS} times")


def _link_get(client: httpx.Client, url: str) -> httpx.Response:
    """GET ``url`` at one of its checked addresses, in the resolver's order (as a socket
    connect would try them); the response is streamed, unread."""
    targets, host_header, sni = _link_targets(url)
    extensions = {"sni_hostname": sni} if sni else {}
    headers = {"Host": host_header, "User-Agent": LINK_USER_AGENT, "Accept": "*/*"}
    failure: Exception | None = None
    for target in targets:
        request = client.build_request("GET", target, headers=headers, extensions=extensions)
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = exc
        except httpx.HTTPError as exc:
            raise LinkFetchFailed(f"the link could not be reached ({type(exc).__name__})", retryable=True) from exc
    raise LinkFetchFailed(f"the link could not be reached ({type(failure).__name__})", retryable=True) from failure


def _body_within(response: httpx.Response, *, limit: int, deadline: float) -> bytes:
    too_big = f"the file is larger than the {limit} bytes WhatsApp allows for this type"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise LinkFetchFailed(too_big)
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise LinkFetchFailed(too_big)
            if time.monotonic() > deadline:
                seconds = settings.WHATSAPP_MEDIA_LINK_DEADLINE_SECONDS
                raise LinkFetchFailed(f"the download took longer than {seconds} s", retryable=True)
    except httpx.HTTPError as exc:
        raise LinkFetchFailed(f"the download broke off ({type(exc).__name__})", retryable=True) from exc
    return bytes(body)


def _link_targets(url: str) -> tuple[list[str], str, str]:
    """(URLs at each of the host's addresses, Host header, TLS server name) for ``url``,
    every address checked; ``LinkFetchFailed`` when the URL or any address is refused."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        raise LinkFetchFailed("the link is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise LinkFetchFailed("only http and https links are fetched")
    host = (parts.hostname or "").lower()
    if not host:
        raise LinkFetchFailed("the link has no host")
    if parts.username or parts.password:
        raise LinkFetchFailed("links with a user name or password are not fetched")
    try:
        infos = socket.getaddrinfo(host, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM)
    except UnicodeError:
        raise LinkFetchFailed(f"{host} is not a valid host name") from None
    except socket.gaierror as exc:
        # Only a resolver that could not answer now is worth asking again; no such name stays so.
        raise LinkFetchFailed(f"{host} cannot be resolved", retryable=exc.errno == socket.EAI_AGAIN) from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
    if not addresses:
        raise LinkFetchFailed(f"{host} cannot be resolved", retryable=True)
    refused = next((address for address in addresses if not _address_allowed(address)), None)
    if refused is not None:
        # Every address, not just the first: a name may list a public one and a private one.
        where = str(refused) if host.strip("[]") == str(refused) else f"{host} is at {refused}, which"
        raise LinkFetchFailed(f"{where} is not a public address")
    targets = []
    for address in addresses:
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{literal}:{port}" if port else literal
        targets.append(urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")))
    return targets, parts.netloc.rsplit("@", 1)[-1], host if scheme == "https" else ""


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if address.is_global and not address.is_multicast:
        return True
    return any(
        address in ipaddress.ip_network(net, strict=False) for net in settings.WHATSAPP_MEDIA_LINK_ALLOW_NETWORKS
    )
