"""Meta's webhook endpoint: ``/webhooks/whatsapp/`` on any host, outside tenant routing.

GET answers the subscription check; POST verifies and stores, then says 200
(FACTS.md §1). Nothing here parses messages or touches a tenant: that is
``conversations.whatsapp.ingest`` in a Celery task.
"""

import hmac
import json
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from bizmitra.metrics import webhook_observed
from bizmitra.request_id import delivery_remember
from conversations.whatsapp.ingest import delivery_store, signature_valid
from conversations.whatsapp.signature import SIGNATURE_HEADER

logger = logging.getLogger(__name__)

_SIGNATURE_META_KEY = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
_READ_CHUNK = 256 * 1024


@csrf_exempt
@webhook_observed
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _receive(request)
    if request.method in ("GET", "HEAD"):
        return _verify(request)
    response = _error(405, "method_not_allowed", "Use GET (verification) or POST (events).")
    response["Allow"] = "GET, POST"
    return response


def _verify(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token") or ""
    challenge = request.GET.get("hub.challenge")
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if mode == "subscribe" and challenge is not None and hmac.compare_digest(token.encode(), expected.encode()):
        return HttpResponse(challenge, content_type="text/plain")
    return _error(403, "verification_failed", "hub.mode or hub.verify_token is wrong.")


def _receive(request: HttpRequest) -> HttpResponse:
    if request.content_type.lower() != "application/json":
        return _error(415, "unsupported_media_type", "Webhook bodies must be application/json.")
    limit = settings.WHATSAPP_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad_request", "Content-Length is not a number.")
    if declared > limit:
        return _error(413, "payload_too_large", f"Webhook bodies are limited to {limit} bytes.")
    # Read the stream ourselves: request.body would apply DATA_UPLOAD_MAX_MEMORY_SIZE
    # (2.5 MB), and Meta's batches reach 3 MB.
    try:
        body = _read_capped(request, limit)
    except OSError:
        return _error(400, "bad_request", "The request body could not be read.")
    if body is None:
        return _error(413, "payload_too_large", f"Webhook bodies are limited to {limit} bytes.")
    if not body:
        return _error(400, "empty_body", "The request has no body.")

    try:
        verified = signature_valid(body=body, header=request.META.get(_SIGNATURE_META_KEY))
    except DatabaseError:
        logger.warning("webhook refused with 503: app secrets unavailable", exc_info=True)
        return _error(503, "unavailable", "Try again later.")
    if not verified:
        return _error(401, "invalid_signature", f"Missing or wrong {SIGNATURE_HEADER}.")
    try:
        payload = json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError (not UTF-8) is a ValueError too
        return _error(400, "malformed_json", f"The body is not valid JSON: {exc}"[:300])
    except RecursionError:
        return _error(400, "malformed_json", "The body nests JSON too deeply.")
    if not isinstance(payload, dict):
        return _error(400, "malformed_json", "The body must be a JSON object.")

    try:
        delivery_id = delivery_store(body=body)
        delivery_remember(delivery_id)  # the worker logs with this request's id
    except DatabaseError:
        # Never 200 for something not stored: Meta retries non-200 answers.
        logger.warning("webhook refused with 503: database unavailable", exc_info=True)
        return _error(503, "unavailable", "Could not store the webhook; try again later.")
    # No Celery publish here (it would cost more CPU than the rest of the request): the
    # INSERT's NOTIFY wakes the relay in the Celery worker, and the sweeper backs it up.
    logger.debug("stored webhook delivery %s", delivery_id)
    return HttpResponse(b"OK", content_type="text/plain")


def _read_capped(request: HttpRequest, limit: int) -> bytes | None:
    """The body, or None once it grows past ``limit`` (Content-Length can be absent or lie)."""
    chunks = []
    size = 0
    while True:
        chunk = request.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, "fields": {}}, status=status)
