"""``python manage.py graph_sandbox``: the Graph API sandbox, knowing every registered number.

Wraps ``conversations.whatsapp.sandbox.serve_forever``. Once it listens, every PhoneNumber
in the public registry is registered with its access token (through the sandbox's own
``/_sandbox/numbers`` control API, the one door ``serve_forever`` leaves open), so the
demo tenant of ``make run`` sends to it as it would to Meta. The registry is read again
every ``--refresh-seconds`` (10 by default) and registered again, so a tenant onboarded
while the sandbox runs, or a rotated token, works without a restart.
"""

import logging
import re
import threading

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django_tenants.utils import get_public_schema_name, schema_context

from conversations.whatsapp.sandbox import serve_forever
from tenants.models import PhoneNumber

logger = logging.getLogger(__name__)

_LISTENING = re.compile(r"listening on (https?://\S+)")


def registry_numbers() -> list[dict]:
    """Every PhoneNumber of the public registry, as ``/_sandbox/numbers`` takes it."""
    with schema_context(get_public_schema_name()):
        return [
            {
                "phone_number_id": number.phone_number_id,
                "token": number.access_token,
                "waba_id": number.waba_id or None,
                "display_phone_number": number.display_phone_number or None,
            }
            for number in PhoneNumber.objects.all()
        ]


def numbers_register(base_url: str, numbers: list[dict]) -> None:
    """Register ``numbers`` with the sandbox at ``base_url`` (idempotent: tokens are a set)."""
    for number in numbers:
        response = httpx.post(f"{base_url}/_sandbox/numbers", json=number, timeout=5)
        response.raise_for_status()


def _keep_registering(base_url: str, every: float, stop: threading.Event) -> None:
    # A thread of its own: serve_forever blocks the main thread until Ctrl-C.
    while not stop.wait(every):
        try:
            numbers_register(base_url, registry_numbers())
        except Exception:  # the database or the sandbox may blink; the next round retries
            logger.warning("graph sandbox: re-registering phone numbers failed", exc_info=True)
        finally:
            connections.close_all()  # this thread's connection only; no idle session kept


class Command(BaseCommand):
    help = "Serve the local Graph API sandbox with every registered phone number and its token."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
        parser.add_argument("--webhook-url", default=None, help="where status and inbound webhooks go")
        parser.add_argument("--app-secret", default=None, help="signs webhooks; default: settings.META_APP_SECRET")
        parser.add_argument("--status-delay", type=float, default=0.05, help="seconds between statuses")
        parser.add_argument(
            "--refresh-seconds",
            type=float,
            default=10.0,
            help="re-register the registry's numbers this often (0: only at start)",
        )

    def handle(self, *args, **opts):
        numbers = registry_numbers()
        stop = threading.Event()

        def announce(line: str) -> None:
            self.stdout.write(line)
            match = _LISTENING.search(line)
            if match is None:
                raise CommandError(f"cannot tell where the sandbox listens from {line!r}")
            base_url = match.group(1)
            numbers_register(base_url, numbers)
            self.stdout.write(
                f"registered {len(numbers)} phone number(s): {', '.join(n['phone_number_id'] for n in numbers)}"
            )
            self.stdout.flush()
            if opts["refresh_seconds"] > 0:
                threading.Thread(
                    target=_keep_registering,
                    args=(base_url, opts["refresh_seconds"], stop),
                    name="graph-sandbox-registry",
                    daemon=True,
                ).start()

        try:
            serve_forever(
                host=opts["host"],
                port=opts["port"],
                webhook_url=opts["webhook_url"],
                app_secret=opts["app_secret"] if opts["app_secret"] is not None else settings.META_APP_SECRET,
                status_delay=opts["status_delay"],
                announce=announce,
                stop_event=stop,
            )
        finally:
            stop.set()
