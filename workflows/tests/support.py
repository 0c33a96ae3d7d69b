"""Helpers for the workflows tests: client headers, unique data, a local SMTP server."""

import random
import threading
import uuid
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from django.test import Client

from tests.support import free_port
from workflows.models import CommunicationWorkflow, TenantEmailSettings


def client_headers(onboarding, *, key: str | None = None, code: str | None = None) -> dict:
    """Headers of a client website calling the host-agnostic API."""
    return {
        "HTTP_X_API_KEY": onboarding.api_key.raw_key if key is None else key,
        "HTTP_X_CLIENT_CODE": onboarding.tenant.client_code if code is None else code,
    }


def any_host_client() -> Client:
    """The trigger API is served on any host; use one no tenant owns."""
    return Client(HTTP_HOST=f"site-{uuid.uuid4().hex[:8]}.example")


def random_phone() -> str:
    """A valid, unique-enough Indian mobile number in E.164."""
    return "+919" + "".join(random.choice("0123456789") for _ in range(9))


def unique_trigger(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def make_workflow(**fields) -> CommunicationWorkflow:
    """A rule in the current schema; WhatsApp template by default."""
    defaults = {
        "name": "Rule",
        "trigger": unique_trigger(),
        "channel": "whatsapp",
        "template_name": "appointment_confirmed_v2",
        "language": "en_US",
    }
    defaults.update(fields)
    return CommunicationWorkflow.objects.create(**defaults)


def make_email_workflow(**fields) -> CommunicationWorkflow:
    defaults = {
        "name": "Email rule",
        "channel": "email",
        "template_name": "",
        "email_subject": "Hello {{1}}",
        "body": "Dear {{1}}, see you at {{2}}.",
    }
    defaults.update(fields)
    return make_workflow(**defaults)


@dataclass
class SmtpSink:
    """A local SMTP server (aiosmtpd) that records messages and can refuse the first N with 451."""

    port: int
    fail_first: int = 0
    messages: list = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            if self.refused < self.fail_first:
                self.refused += 1
                return "451 4.3.0 Try again later"
            self.messages.append(
                {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content.decode()}
            )
        return "250 Message accepted"

    def to(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.messages if address in m["to"]]


def start_smtp_sink() -> tuple[SmtpSink, Controller]:
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    return sink, controller


def email_settings_point_to(sink: SmtpSink) -> TenantEmailSettings:
    """Make the current schema's SMTP settings target ``sink`` (plain SMTP on loopback)."""
    settings, _ = TenantEmailSettings.objects.update_or_create(
        singleton=1,
        defaults={
            "host": "127.0.0.1",
            "port": sink.port,
            "username": "",
            "password": "",
            "use_tls": False,
            "use_ssl": False,
            "from_email": "clinic@alpha.test",
            "is_active": True,
        },
    )
    return settings
