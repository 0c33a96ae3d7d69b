"""Send a template to a staff member's own phone, to see it as customers will."""

from __future__ import annotations

import uuid
from typing import Any

from bizmitra.errors import ApplicationError, ValidationFailed
from bizmitra.graph_api.payloads import OutboundValidationError, normalize_recipient
from templates import hooks
from templates.models import MessageTemplate
from templates.rendering import render_template

SAMPLE_CONTEXT = {"first_name": "Test", "name": "Test User"}
"""What a test send fills variables with (the template's fallbacks cover the rest)."""


class SendingUnavailable(ApplicationError):
    """The outbound sender is not installed in this build."""

    code = "sending_unavailable"
    http_status = 503


def template_send_test(*, template: MessageTemplate, to: str, sent_by=None) -> Any:
    """Queue ``template`` (filled with ``SAMPLE_CONTEXT``) to ``to`` through the normal
    outbound pipeline (``templates.hooks.message_send``); returns the queued message.

    Free-form kinds (text, buttons, lists) only reach a number that wrote to the
    business in the last 24 h (Meta's customer-service window); Meta templates reach
    any number. Raises ``ValidationFailed`` for a bad number, ``SendingUnavailable`` when
    the sender is missing, and whatever ``message_send`` raises (``WindowClosed`` …).
    Call inside the tenant's schema.
    """
    try:
        normalize_recipient(to)
    except OutboundValidationError as exc:
        raise ValidationFailed("Not a valid WhatsApp number.", fields={"to": [exc.reason]}) from exc
    # The sender lives in conversations (above this app), plugged in through templates.hooks.
    if hooks.message_send is None:
        raise SendingUnavailable("Sending is not available yet: the outbound sender is not installed.")
    rendered = render_template(template, SAMPLE_CONTEXT)
    return hooks.message_send(
        to=to,
        type=rendered["type"],
        content=rendered["content"],
        idempotency_key=f"template-test:{template.key}:{uuid.uuid4().hex}",
        sent_by=sent_by,
    )
