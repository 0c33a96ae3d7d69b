"""Callbacks: after a job completes or fails, PUT ``{status, metadata, jobId}`` to its ``callbackUrl``.

The body is signed with the tenant's callback signing secret:
``X-BizMitra-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>``.
A receiver recomputes the HMAC over the raw body and compares in constant time.
Any non-2xx answer or transport error is retried with backoff (base × 2ⁿ) up to
``WORKFLOWS_CALLBACK_MAX_ATTEMPTS``; every attempt is recorded on the job.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.db import connection
from django.db.models import F
from django.utils import timezone

from tenants.models import Tenant
from workflows.choices import CallbackState, JobStatus
from workflows.conf import workflow_settings
from workflows.models import WorkflowJob
from workflows.services.scheduling import backoff_seconds, callback_enqueue

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-BizMitra-Signature"
USER_AGENT = "BizMitra-Workflows/1.0"
CLAIM_EARLY_TOLERANCE = timedelta(seconds=1)


def callback_signature(*, secret: str, body: bytes) -> str:
    """The ``X-BizMitra-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def callback_secret_get(*, tenant: Tenant) -> str:
    """The tenant's callback signing secret, created on first use for tenants onboarded without one."""
    if not tenant.callback_signing_secret:
        tenant.callback_signing_secret = secrets.token_urlsafe(32)
        tenant.save(update_fields=["callback_signing_secret"])
    return str(tenant.callback_signing_secret)


def callback_url_error(url: str) -> str | None:
    """Why ``url`` cannot receive callbacks, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Must be an absolute http(s) URL."
    return None


def _private_address_error(url: str) -> str | None:
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"refused: {host} resolves to the non-public address {address}"
    return None


def callback_body(job: WorkflowJob) -> bytes:
    payload = {"status": job.status, "metadata": job.callback_metadata, "jobId": str(job.pk)}
    if job.status == JobStatus.FAILED and job.last_error:
        payload["error"] = job.last_error
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def workflow_callback_deliver(*, job_id) -> str | None:
    """Make one callback attempt for ``job_id`` if one is due; returns the resulting callback state.

    Call inside the tenant's schema. The attempt is claimed pending→delivering
    first, so duplicate task deliveries make at most one request.
    """
    conf = workflow_settings()
    now = timezone.now()
    claimed = WorkflowJob.objects.filter(
        pk=job_id, callback_state=CallbackState.PENDING, callback_next_attempt_at__lte=now + CLAIM_EARLY_TOLERANCE
    ).update(
        callback_state=CallbackState.DELIVERING, callback_claimed_at=now, callback_attempts=F("callback_attempts") + 1
    )
    if not claimed:
        return None
    job = WorkflowJob.objects.get(pk=job_id)
    tenant = Tenant.objects.get(schema_name=connection.schema_name)
    body = callback_body(job)
    status_code, error = None, ""
    refusal = None if conf.callback_allow_private_hosts else _private_address_error(job.callback_url)
    if refusal:
        error = refusal
    else:
        try:
            response = httpx.put(
                job.callback_url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    SIGNATURE_HEADER: callback_signature(secret=callback_secret_get(tenant=tenant), body=body),
                },
                timeout=conf.callback_timeout_seconds,
                follow_redirects=False,
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"

    finished = timezone.now()
    mine = WorkflowJob.objects.filter(pk=job.pk, callback_state=CallbackState.DELIVERING, callback_claimed_at=now)
    if not error:
        mine.update(
            callback_state=CallbackState.DELIVERED,
            callback_delivered_at=finished,
            callback_last_status_code=status_code,
            callback_last_error="",
        )
        return CallbackState.DELIVERED
    if refusal or job.callback_attempts >= conf.callback_max_attempts:
        mine.update(
            callback_state=CallbackState.FAILED, callback_last_status_code=status_code, callback_last_error=error
        )
        logger.warning("callback of workflow job %s failed for good: %s", job.pk, error)
        return CallbackState.FAILED
    # The workflow's retry base paces its callbacks too.
    wait = backoff_seconds(base=job.retry_base_seconds, attempt=job.callback_attempts, cap=conf.retry_max_seconds)
    if mine.update(
        callback_state=CallbackState.PENDING,
        callback_next_attempt_at=finished + timedelta(seconds=wait),
        callback_last_status_code=status_code,
        callback_last_error=error,
    ):
        callback_enqueue(schema_name=connection.schema_name, job_id=job.pk, countdown=wait)
    return CallbackState.PENDING
