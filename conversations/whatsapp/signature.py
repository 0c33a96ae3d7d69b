"""Verification of Meta's ``X-Hub-Signature-256`` header on webhook POSTs.

Meta signs the raw request body with HMAC-SHA256 keyed by the *app secret*
(one per Meta app, shared by every phone number that app serves) and sends
``sha256=<lowercase hex>``. See FACTS.md §1.2 and
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/create-webhook-endpoint

Pure Python on purpose: the webhook view, tests and tools all use it without Django.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Hub-Signature-256"
"""HTTP header Meta puts the signature in (Django exposes it as ``HTTP_X_HUB_SIGNATURE_256``)."""

SIGNATURE_PREFIX = "sha256="


def compute_signature(app_secret: str, body: bytes) -> str:
    """Return the header value Meta would send for ``body``: ``"sha256=<lowercase hex>"``.

    ``body`` must be the raw bytes on the wire (Django's ``request.body``): re-serialising
    the parsed JSON changes the escaping Meta signed over and breaks the match.
    """
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_matches(app_secrets: Iterable[str], body: bytes, header: str | None) -> bool:
    """Tell whether ``header`` is a valid signature of ``body`` under any of ``app_secrets``.

    Several secrets are accepted so that a secret can be rotated (old and new both valid for
    a while) and so that one endpoint can serve more than one Meta app. Returns False for a
    missing, empty or garbled header and when no usable secret is configured.
    """
    if not isinstance(header, str):
        return False
    header = header.strip()
    # compare_digest raises TypeError on non-ASCII str, and a forged header is attacker input.
    if not header.isascii() or header[: len(SIGNATURE_PREFIX)].lower() != SIGNATURE_PREFIX:
        return False
    provided = SIGNATURE_PREFIX + header[len(SIGNATURE_PREFIX) :].lower()

    matched = False
    for secret in app_secrets:
        # An empty secret means a misconfigured tenant; accepting it would let anyone
        # sign with the empty key.
        if not secret:
            continue
        # No early exit: every candidate is checked so timing does not reveal which one matched.
        matched |= hmac.compare_digest(compute_signature(secret, body), provided)
    return matched
