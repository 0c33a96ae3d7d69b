"""``python manage.py graph_sandbox``: the Graph API sandbox, knowing every registered number.

Wraps ``conversations.whatsapp.sandbox.serve_forever``. Once it listens, every PhoneNumber
in the public registry is registered with its access token (through the sandbox's own
``/_sandbox/numbers`` control API, the one door ``serve_forever`` leaves open), so the
demo tenant of ``make run`` sends to it as it would to Meta.
"""

import re

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context

from conversations.whatsapp.sandbox import serve_forever
from tenants.models import PhoneNumber

_LISTENING = re.compile(r"listening on (https?://\S+)")


class Command(BaseCommand):
    help = "Serve the local Graph API sandbox with every registered phone number and its token."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
        parser.add_argument("--webhook-url", default=None, help="where status and inbound webhooks go")
        parser.add_argument("--app-secret", default=None, help="signs webhooks; default: settings.META_APP_SECRET")
        parser.add_argument("--status-delay", type=float, default=0.05, help="seconds between statuses")

    def handle(self, *args, **opts):
        with schema_context(get_public_schema_name()):
            numbers = [
                {
                    "phone_number_id": number.phone_number_id,
                    "token": number.access_token,
                    "waba_id": number.waba_id or None,
                    "display_phone_number": number.display_phone_number or None,
                }
                for number in PhoneNumber.objects.all()
            ]

        def announce(line: str) -> None:
            self.stdout.write(line)
            match = _LISTENING.search(line)
            if match is None:
                raise CommandError(f"cannot tell where the sandbox listens from {line!r}")
            base_url = match.group(1)
            for number in numbers:
                response = httpx.post(f"{base_url}/_sandbox/numbers", json=number, timeout=5)
                response.raise_for_status()
            self.stdout.write(
                f"registered {len(numbers)} phone number(s): {', '.join(n['phone_number_id'] for n in numbers)}"
            )
            self.stdout.flush()

        serve_forever(
            host=opts["host"],
            port=opts["port"],
            webhook_url=opts["webhook_url"],
            app_secret=opts["app_secret"] if opts["app_secret"] is not None else settings.META_APP_SECRET,
            status_delay=opts["status_delay"],
            announce=announce,
        )
