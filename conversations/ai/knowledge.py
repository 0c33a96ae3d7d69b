"""Website → AI knowledge: fetch a business's site and keep its readable text.

Staff give a URL (``knowledge_fetch_start``); a Celery task (``knowledge_fetch_run``)
crawls it breadth-first and replaces ``AIAssistantSettings.knowledge`` with the text
trafilatura extracts, which staff can then edit. The crawl is deliberately small and
defensive, since the URL is user input fetched from our servers:

- http(s) only; every host is resolved and refused when any address is not public
  (loopback, private, link-local, reserved...) unless ``KNOWLEDGE_FETCH_ALLOW_PRIVATE``
  (tests and local development). Redirects are followed by hand so each hop is checked.
  A host could still answer differently between our check and httpx's own lookup (DNS
  rebinding); the address check narrows, not closes, that gap.
- only links to the same host (any scheme, same explicit port), at most ``max_depth``
  links away from the start page and ``max_pages`` requests in all;
- only ``text/html`` responses, at most ``MAX_PAGE_BYTES`` each (decompressed), with
  connect/read timeouts and a wall-clock limit per page.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from bizmitra.errors import ValidationFailed
from conversations.ai.choices import KnowledgeJobStatus
from conversations.models import KNOWLEDGE_MAX_CHARS, AIAssistantSettings, KnowledgeFetchJob

logger = logging.getLogger(__name__)

MAX_PAGES = 10
MAX_DEPTH = 2
MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)
# A server that trickles bytes just under the read timeout must not hold the worker.
PAGE_DEADLINE_SECONDS = 30.0
PAGE_TEXT_MAX_CHARS = 4_000
URL_MAX_LENGTH = 2_000
# A worker that died mid-crawl leaves its job 'running'; a redelivered task may take it over after this.
STALE_RUNNING_AFTER = timedelta(minutes=10)
HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "BizMitra-KnowledgeFetcher/1.0"
# Links that are obviously not pages are not worth one of the few requests.
_NOT_PAGE = re.compile(
    r"\.(?:pdf|jpe?g|png|gif|webp|svg|ico|bmp|tiff?|mp[34]|m4a|wav|ogg|webm|avi|mov|zip|gz|tgz|rar|7z|"
    r"docx?|xlsx?|pptx?|csv|json|xml|css|js|woff2?|ttf|eot|exe|dmg|apk)$",
    re.IGNORECASE,
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([a-zA-Z0-9_\-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


class FetchRefused(Exception):
    """A URL we will not fetch (scheme, host, or address)."""


@dataclass
class PageOutcome:
    url: str
    depth: int
    status: str  # "fetched" | "skipped"
    reason: str = ""
    chars: int = 0


@dataclass
class CrawlResult:
    pages: list[PageOutcome] = field(default_factory=list)
    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (url, title, text)
    planned: int = 0

    @property
    def fetched(self) -> int:
        return sum(1 for p in self.pages if p.status == "fetched")

    @property
    def skipped(self) -> int:
        return sum(1 for p in self.pages if p.status == "skipped")


class _Skip(Exception):
    """This page is left out; the crawl goes on."""


def url_check(url: str, *, allow_private: bool) -> str:
    """The URL without its fragment, if it is one we may fetch; else ``FetchRefused``.

    Checks the form (http/https, a host, no credentials) and, for IP literals and
    ``localhost``, the address; names are resolved when fetched.
    """
    url = (url or "").strip()
    if len(url) > URL_MAX_LENGTH:
        raise FetchRefused(f"the URL is longer than {URL_MAX_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise FetchRefused(f"not a valid URL ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchRefused("only http and https URLs can be fetched")
    if not parts.hostname:
        raise FetchRefused("the URL has no host")
    if parts.username or parts.password:
        raise FetchRefused("URLs with a user name or password are not fetched")
    if not allow_private:
        host = parts.hostname.lower()
        if host == "localhost" or host.endswith(".localhost"):
            raise FetchRefused("local addresses are not fetched")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            if not _is_public(address):
                raise FetchRefused(f"{address} is not a public address")
    return urldefrag(url)[0]


def address_check(url: str, *, allow_private: bool) -> None:
    """Resolve the URL's host; ``FetchRefused`` when it has no address or a non-public one."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"cannot resolve {parts.hostname}") from exc
    if allow_private:
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not _is_public(address):
            raise FetchRefused(f"{parts.hostname} resolves to {address}, which is not a public address")


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


def _site(url: str) -> tuple[str, int | None]:
    """What "the same host" means here: the host name and any non-default port (scheme-blind)."""
    parts = urlsplit(url)
    port = parts.port
    if port == {"http": 80, "https": 443}.get(parts.scheme.lower()):
        port = None
    return (parts.hostname or "").lower(), port


class SiteCrawler:
    """Breadth-first crawl of one site (see the module docstring for the limits)."""

    def __init__(
        self,
        *,
        max_pages: int = MAX_PAGES,
        max_depth: int = MAX_DEPTH,
        max_bytes: int = MAX_PAGE_BYTES,
        allow_private: bool | None = None,
        on_progress: Callable[[CrawlResult], None] | None = None,
    ) -> None:
        self.max_pages = max_pages
        self.max_depth = max_depth
        self.max_bytes = max_bytes
        self.allow_private = settings.KNOWLEDGE_FETCH_ALLOW_PRIVATE if allow_private is None else allow_private
        self.on_progress = on_progress or (lambda result: None)

    def crawl(self, start_url: str) -> CrawlResult:
        """Raises ``FetchRefused`` only when the start page itself may not be fetched."""
        start_url = url_check(start_url, allow_private=self.allow_private)
        result = CrawlResult(planned=1)
        queue: deque[tuple[str, int]] = deque([(start_url, 0)])
        seen = {start_url}
        site = None
        text_hashes: set[str] = set()
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False, headers={"User-Agent": USER_AGENT}) as client:
            while queue:
                url, depth = queue.popleft()
                outcome = PageOutcome(url=url, depth=depth, status="skipped")
                try:
                    final_url, html = self._get(client, url, site=site)
                    if site is None:
                        # The start page's final host (after e.g. example.com -> www.example.com) is the site.
                        site = _site(final_url)
                    title, text, links = _extract(html, final_url)
                    outcome.status = "fetched"
                    digest = hashlib.sha256(text.encode()).hexdigest()
                    if text and digest not in text_hashes:
                        text_hashes.add(digest)
                        result.texts.append((final_url, title, text[:PAGE_TEXT_MAX_CHARS]))
                        outcome.chars = min(len(text), PAGE_TEXT_MAX_CHARS)
                    else:
                        outcome.reason = "no new readable text"
                    if depth < self.max_depth:
                        for link in links:
                            if len(seen) >= self.max_pages:
                                break
                            if link not in seen and _site(link) == site and not _NOT_PAGE.search(urlsplit(link).path):
                                seen.add(link)
                                queue.append((link, depth + 1))
                except FetchRefused as exc:
                    if depth == 0:
                        raise
                    outcome.reason = f"refused: {exc}"
                except _Skip as exc:
                    outcome.reason = str(exc)
                except httpx.HTTPError as exc:
                    outcome.reason = f"{type(exc).__name__}: {exc}"[:300]
                result.pages.append(outcome)
                result.planned = len(seen)
                self.on_progress(result)
        return result

    def _get(self, client: httpx.Client, url: str, *, site) -> tuple[str, str]:
        """The page's final URL and HTML text; ``_Skip`` or ``FetchRefused`` when left out."""
        for _hop in range(MAX_REDIRECTS + 1):
            url_check(url, allow_private=self.allow_private)
            address_check(url, allow_private=self.allow_private)
            if site is not None and _site(url) != site:
                raise _Skip(f"redirected off the site to {url}")
            deadline = time.monotonic() + PAGE_DEADLINE_SECONDS
            with client.stream("GET", url, headers={"Accept": "text/html,application/xhtml+xml"}) as response:
                if response.is_redirect and response.headers.get("location"):
                    url = urldefrag(urljoin(url, response.headers["location"]))[0]
                    continue
                if response.status_code != 200:
                    raise _Skip(f"HTTP {response.status_code}")
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if content_type not in HTML_TYPES:
                    raise _Skip(f"not HTML ({content_type or 'no content type'})")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise _Skip(f"larger than {self.max_bytes} bytes")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _Skip(f"larger than {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise _Skip(f"took longer than {PAGE_DEADLINE_SECONDS:g}s")
                return str(response.url), _decode(bytes(body), response.charset_encoding)
        raise _Skip(f"more than {MAX_REDIRECTS} redirects")


def _decode(body: bytes, declared: str | None) -> str:
    encoding = declared
    if not encoding:
        match = _META_CHARSET.search(body[:4096])
        encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    # lxml refuses str input that still carries an encoding declaration.
    return _XML_DECLARATION.sub("", text, count=1)


def _extract(html: str, url: str) -> tuple[str, str, list[str]]:
    """(title, readable text, absolute same-document-free links) of one page."""
    import lxml.html
    import trafilatura
    from lxml.etree import ParserError

    text = trafilatura.extract(html, url=url, include_comments=False, include_tables=True, favor_recall=True) or ""
    title, links = "", []
    try:
        document = lxml.html.document_fromstring(html)
    except (ParserError, ValueError):
        return title, text.strip(), links
    title = " ".join((document.findtext(".//title") or "").split())
    document.make_links_absolute(url, resolve_base_href=True, handle_failures="discard")
    for element, attribute, link, _pos in document.iterlinks():
        if element.tag == "a" and attribute == "href":
            link = urldefrag(link.strip())[0]
            if urlsplit(link).scheme.lower() in ("http", "https"):
                links.append(link)
    return title, text.strip(), list(dict.fromkeys(links))


def knowledge_text_build(texts: list[tuple[str, str, str]]) -> str:
    """The stored knowledge: one section per page, in crawl order, within ``KNOWLEDGE_MAX_CHARS``."""
    sections, size = [], 0
    for url, title, text in texts:
        section = f"## {title or url}\n({url})\n{text}"
        if size + len(section) > KNOWLEDGE_MAX_CHARS:
            room = KNOWLEDGE_MAX_CHARS - size
            if room > 200:
                sections.append(section[:room].rstrip())
            break
        sections.append(section)
        size += len(section) + 2
    return "\n\n".join(sections)


# --- the job --------------------------------------------------------------------------


def knowledge_fetch_start(*, url: str, requested_by=None) -> KnowledgeFetchJob:
    """Queue a website fetch into this tenant's AI knowledge; returns the job to poll.

    Raises ``ValidationFailed`` for URLs that will never be fetched (scheme, host, a
    non-public IP literal). Tenant schema; the task is sent after commit.
    """
    from conversations.ai.tasks import knowledge_fetch_task

    try:
        url = url_check(url, allow_private=settings.KNOWLEDGE_FETCH_ALLOW_PRIVATE)
    except FetchRefused as exc:
        raise ValidationFailed("This URL cannot be fetched.", fields={"url": [str(exc)]}) from exc
    user = requested_by if getattr(requested_by, "pk", None) else None
    with transaction.atomic():
        job = KnowledgeFetchJob.objects.create(
            url=url, max_pages=MAX_PAGES, max_depth=MAX_DEPTH, pages_total=1, requested_by=user
        )
        headers = {"_schema_name": connection.schema_name}
        job_id = str(job.pk)
        transaction.on_commit(lambda: knowledge_fetch_task.apply_async(kwargs={"job_id": job_id}, headers=headers))
    return job


def knowledge_fetch_run(*, job_id) -> KnowledgeFetchJob | None:
    """Run a queued fetch job to its end (the task's body). Tenant schema.

    Claims the job first (a conditional UPDATE), so a redelivered task does nothing unless
    the worker that had it died long ago. On success the text replaces the tenant's
    knowledge; pages that could not be read are listed on the job and skipped.
    """
    now = timezone.now()
    claimable = Q(status=KnowledgeJobStatus.QUEUED) | Q(
        status=KnowledgeJobStatus.RUNNING, started_at__lt=now - STALE_RUNNING_AFTER
    )
    claimed = KnowledgeFetchJob.objects.filter(claimable, pk=job_id).update(
        status=KnowledgeJobStatus.RUNNING, started_at=now, pages=[], error=""
    )
    if not claimed:
        return None
    job = KnowledgeFetchJob.objects.get(pk=job_id)

    def progress(result: CrawlResult) -> None:
        KnowledgeFetchJob.objects.filter(pk=job.pk).update(
            pages_total=max(result.planned, len(result.pages)),
            pages_fetched=result.fetched,
            pages_skipped=result.skipped,
            pages=[asdict(p) for p in result.pages],
        )

    crawler = SiteCrawler(max_pages=job.max_pages, max_depth=job.max_depth, on_progress=progress)
    try:
        result = crawler.crawl(job.url)
    except FetchRefused as exc:
        return _job_finish(job, status=KnowledgeJobStatus.FAILED, error=f"refused: {exc}")
    except Exception as exc:  # the job must end in a state staff can see, whatever broke
        logger.exception("knowledge fetch %s failed", job.pk)
        return _job_finish(job, status=KnowledgeJobStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:500])
    text = knowledge_text_build(result.texts)
    if not text:
        reasons = "; ".join(f"{p.url}: {p.reason}" for p in result.pages[:3])
        return _job_finish(job, status=KnowledgeJobStatus.FAILED, error=f"no readable text found ({reasons})"[:1000])
    with transaction.atomic():
        config, _ = AIAssistantSettings.objects.select_for_update().get_or_create(pk=AIAssistantSettings.SINGLETON_PK)
        config.knowledge = text
        config.knowledge_source_url = job.url
        config.knowledge_fetched_at = timezone.now()
        config.save(update_fields=["knowledge", "knowledge_source_url", "knowledge_fetched_at", "updated_at"])
        return _job_finish(job, status=KnowledgeJobStatus.DONE, chars=len(text))


def _job_finish(job: KnowledgeFetchJob, *, status: str, error: str = "", chars: int = 0) -> KnowledgeFetchJob:
    KnowledgeFetchJob.objects.filter(pk=job.pk).update(
        status=status, error=error, chars_extracted=chars, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job
