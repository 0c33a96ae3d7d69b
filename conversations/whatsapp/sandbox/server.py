"""``GraphSandbox``: a local stand-in for Meta's Graph API and webhook sender.

Serves the Cloud API endpoints BizMitra calls (send, mark read, media, templates) in
Meta's wire format, sends signed status webhooks after each accepted send, plays the
customer by injecting inbound webhooks, and fails on demand with Meta's error bodies.
Standard-library HTTP server on a background thread: no Meta account, no new
dependency. Local use only: the ``/_sandbox/`` control API has no authentication.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from . import wire
from .api import GraphApi, Reply, Request
from .control import handle_control
from .delivery import WebhookDeliveryError, WebhookDispatcher
from .httpd import SandboxHandler, SandboxHTTPServer
from .inbound import InboundMixin, InjectResult
from .state import FailureRule, SandboxState, Simulation

logger = logging.getLogger(__name__)

__all__ = ["GraphSandbox", "InjectResult", "WebhookDeliveryError"]


class GraphSandbox(InboundMixin):
    """A Graph API sandbox on ``host:port`` (port 0 picks a free one).

    Open mode until ``register_number`` is called: any non-empty Bearer token is accepted
    for any phone number id. After that, unknown ids get Meta's "object does not exist"
    error (100) and wrong tokens get 190 with HTTP 401.

    Simulations (``fail_next``, ``delay_next``, ``drop_connection_next``) apply to message
    sends only, not to mark-as-read, media or template calls.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        app_secret: str = "",
        status_delay: float = 0.05,
        auto_statuses: Iterable[str] = ("sent", "delivered", "read"),
        media_url_ttl: float = 300.0,
        public_url: str | None = None,
        webhook_workers: int = 4,
        webhook_retry_delays: tuple[float, ...] = (0.05, 0.5, 2.0),
        webhook_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.status_delay = status_delay
        self.auto_statuses = tuple(auto_statuses)
        self.media_url_ttl = media_url_ttl
        self.public_url = public_url
        self.state = SandboxState()
        self.dispatcher = WebhookDispatcher(
            lambda: (self.webhook_url, self.app_secret),
            workers=webhook_workers,
            retry_delays=webhook_retry_delays,
            timeout=webhook_timeout,
        )
        self.api = GraphApi(self)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> GraphSandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = SandboxHTTPServer((self.host, self.port), SandboxHandler)
        self._server.sandbox = self
        self.port = self._server.server_address[1]
        self.dispatcher.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="graph-sandbox-http",
            daemon=True,
        )
        self._thread.start()
        logger.info("graph sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.dispatcher.stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> GraphSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` for ``GraphClient(base_url=...)``; valid after ``start``."""
        if self._server is None:
            raise RuntimeError("GraphSandbox is not started")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # -- configuration --------------------------------------------------------------------

    def register_number(
        self,
        phone_number_id: str,
        token: str,
        waba_id: str | None = None,
        display_phone_number: str | None = None,
        quality_rating: str | None = None,
        status: str | None = None,
    ) -> None:
        """Accept ``token`` for ``phone_number_id`` (call again to add a rotated token, or to
        change what Meta reports of the number: ``quality_rating``, ``status``)."""
        self.state.register_number(phone_number_id, token, waba_id, display_phone_number, quality_rating, status)

    def add_media(
        self,
        media_id: str | None,
        data: bytes,
        mime_type: str,
        *,
        phone_number_id: str | None = None,
        filename: str | None = None,
    ) -> str:
        """Store media (for inbound messages); returns its id (generated when None)."""
        media = self.state.add_media(media_id, data, mime_type, phone_number_id=phone_number_id, filename=filename)
        return media.media_id

    def add_message_template(
        self,
        waba_id: str,
        name: str,
        *,
        language: str = "en_US",
        category: str = "UTILITY",
        components: list[dict[str, Any]] | None = None,
        status: str = "APPROVED",
        template_id: str | None = None,
    ) -> dict[str, Any]:
        """Add a template to a WABA. Once a WABA has templates, template sends to its
        numbers must name an APPROVED one (else 132001)."""
        template = {
            "name": name,
            "parameter_format": "POSITIONAL",
            "components": components or [{"type": "BODY", "text": f"Hello {{{{1}}}}, this is {name}."}],
            "language": language,
            "status": status,
            "category": category,
            "id": template_id or wire.new_object_id(),
        }
        return self.state.add_template(waba_id, template)

    # -- simulations ----------------------------------------------------------------------

    def fail_next(
        self,
        code: int = 130429,
        count: int = 1,
        http_status: int | None = None,
        title: str | None = None,
        *,
        details: str | None = None,
        plain: bool | None = None,
        asynchronous: bool = False,
        to: str | None = None,
    ) -> None:
        """Make the next ``count`` sends (to ``to`` only, if given) fail with ``code``.

        ``http_status`` defaults to 401 for 0/190 and 400 otherwise. ``plain`` (default:
        for 5xx) answers a bare text body, as a failing edge proxy does. ``asynchronous``
        accepts the send and reports the error as a ``failed`` status webhook, as Meta
        does for e.g. 131047 (FACTS.md §5).
        """
        status = http_status or (401 if code in (0, 190) else 400)
        with self.state.lock:
            self.state.failures.append(
                FailureRule(
                    code=code,
                    remaining=count,
                    http_status=status,
                    title=title,
                    details=details,
                    plain=status >= 500 if plain is None else plain,
                    asynchronous=asynchronous,
                    to=to,
                )
            )

    def delay_next(self, seconds: float, count: int = 1, *, to: str | None = None) -> None:
        """Answer the next ``count`` sends (to ``to`` only, if given) after ``seconds``.
        The send is accepted and recorded first, like a slow Meta: a client timeout then
        leaves a real message."""
        with self.state.lock:
            self.state.delays.append(Simulation(remaining=count, seconds=seconds, to=to))

    def drop_connection_next(self, count: int = 1, *, after_processing: bool = False, to: str | None = None) -> None:
        """Close the socket without answering the next ``count`` sends (to ``to`` only, if
        given); with ``after_processing`` the send is accepted (and statuses follow) first."""
        with self.state.lock:
            self.state.drops.append(Simulation(remaining=count, after_processing=after_processing, to=to))

    def reset(self) -> None:
        """Forget everything: traffic, simulations, numbers, media, templates, queued
        webhooks. Constructor settings (webhook URL, secret, delays) stay."""
        self.state.reset()
        self.dispatcher.clear()

    # -- observation ----------------------------------------------------------------------

    @property
    def sent_messages(self) -> list[dict[str, Any]]:
        """Snapshot of accepted sends: ``phone_number_id``, ``payload``, ``wamid``, ``to``,
        ``wa_id``, ``type``, ``version``, ``received_at`` (monotonic),
        ``received_at_wall``."""
        with self.state.lock:
            return list(self.state.sent)

    @property
    def read_receipts(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.reads)

    @property
    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return self.dispatcher.snapshot()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every Graph API request: ``method``, ``path``, ``status``, ``at``."""
        with self.state.lock:
            return list(self.state.requests)

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Poll until at least ``count`` sends are recorded; raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            sent = self.sent_messages
            if len(sent) >= count:
                return sent
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(sent)} of {count} sends after {timeout}s")
            time.sleep(0.01)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued status webhook was delivered or given up."""
        return self.dispatcher.wait_idle(timeout)

    # -- status webhooks ------------------------------------------------------------------

    def _schedule_statuses(self, record: dict[str, Any], failure: FailureRule | None) -> None:
        if not self.webhook_url:
            return
        number = self.state.number(record["phone_number_id"])
        payload = record["payload"]
        pricing = wire.pricing_for(payload, record.get("template_category"))
        legacy = int(record["version"][1:].split(".")[0]) < 24
        opaque = payload.get("biz_opaque_callback_data")
        if failure is not None:
            errors = [wire.status_error(failure.code, title=failure.title, details=failure.details)]
            statuses: list[tuple[str, list[dict[str, Any]] | None]] = [("failed", errors)]
        else:
            statuses = [(status, None) for status in self.auto_statuses]
        priced = False
        now = time.time()
        for index, (status, errors) in enumerate(statuses):
            delay = self.status_delay * (index + 1)
            # Pricing on "sent" and on the first of delivered/read (FACTS.md §1.4);
            # conversation only for Graph versions below v24.0.
            with_pricing = status == "sent" or (status in ("delivered", "read") and not priced)
            priced = priced or status in ("delivered", "read")
            item = wire.status_item(
                wamid=record["wamid"],
                status=status,
                recipient_id=record["wa_id"],
                at=now + delay,
                pricing=pricing if with_pricing and not errors else None,
                conversation=(
                    wire.conversation_for(
                        record["phone_number_id"],
                        record["wa_id"],
                        pricing["category"],
                        with_expiry=status == "sent",
                    )
                    if legacy and not errors
                    else None
                ),
                biz_opaque_callback_data=opaque,
                errors=errors,
            )
            body = wire.envelope(
                waba_id=number.waba_id,
                phone_number_id=record["phone_number_id"],
                display_phone_number=number.display_phone_number,
                value={"statuses": [item]},
            )
            self.dispatcher.submit(
                wire.dumps(body),
                delay=delay,
                meta={"kind": "status", "wamid": record["wamid"], "status": status},
            )

    # -- HTTP entry -----------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        if request.path.startswith("/_sandbox/"):
            return handle_control(self, request)
        reply = self.api.handle(request)
        self.state.log_request(request.method, request.path, reply.status)
        return reply
