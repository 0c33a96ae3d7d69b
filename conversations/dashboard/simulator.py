"""The phone simulator: the owner writes to their own number as a customer, through the sandbox.

Messages go in exactly as Meta's would: the view asks the bundled Graph sandbox
(``conversations/whatsapp/sandbox``, its ``/_sandbox/inject`` control API) to post a signed
webhook to our webhook URL, so the whole pipeline runs — ingest, engine (rules, flows, AI),
outbound through the sandbox, status webhooks. Nothing here writes to the database.

Only when ``WHATSAPP_GRAPH_URL`` points at a sandbox: a tenant connected to real Meta gets a
page explaining how to switch a test number to it.
"""

from __future__ import annotations

import base64
import secrets

import httpx
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from bizmitra.errors import ValidationFailed
from conversations.dashboard import selectors
from conversations.dashboard.views import _ws_url, handles_errors
from conversations.models import Contact, Conversation
from conversations.selectors import user_is_owner

IMAGE_MAX = 5 * 1024 * 1024
# +999 is not assigned to any country (ITU-T E.164), so a simulator contact can never be a customer.
SIMULATOR_PREFIX = "999"
TEXT_MAX = 4096


def sandbox_url() -> str | None:
    """The sandbox's base URL when the Graph API in use is one (it answers ``/_sandbox/health``)."""
    base = settings.WHATSAPP_GRAPH_URL.rstrip("/")
    try:
        answer = httpx.get(f"{base}/_sandbox/health", timeout=1.5)
        if answer.status_code == 200 and answer.json().get("ok"):
            return base
    except (httpx.HTTPError, ValueError):
        return None
    return None


def simulator_wa_id(user) -> str:
    """The simulator's customer number for this teammate: stable, and not a real country prefix."""
    return f"{SIMULATOR_PREFIX}{user.pk:09d}"


def simulator_phone_number():
    from tenants.models import PhoneNumber

    return PhoneNumber.objects.filter(tenant__schema_name=connection.schema_name).order_by("id").first()


def simulator_inject(*, user, kind: str, data: dict) -> dict:
    """Post one customer message to the sandbox, which delivers it to our webhook signed."""
    base = sandbox_url()
    if base is None:
        raise ValidationFailed(
            "The simulator needs the bundled Graph sandbox; this server talks to Meta.",
            fields={"sandbox": ["unavailable"]},
        )
    number = simulator_phone_number()
    if number is None:
        raise ValidationFailed("Connect a WhatsApp number first.", fields={"phone_number": ["missing"]})
    profile = (user.get_full_name() or user.get_username().split("@")[0] or "Simulator")[:60]
    body = {
        "kind": kind,
        "phone_number_id": number.phone_number_id,
        "from": simulator_wa_id(user),
        "profile_name": f"{profile} (simulator)",
        **data,
    }
    try:
        answer = httpx.post(f"{base}/_sandbox/inject", json=body, timeout=15)
    except httpx.HTTPError as exc:
        raise ValidationFailed(
            "The sandbox did not answer; is it running?", fields={"sandbox": [str(exc)[:100]]}
        ) from exc
    result = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
    if answer.status_code != 200 or int(result.get("status") or 0) >= 300:
        raise ValidationFailed(
            "Our webhook refused the simulated message"
            + (f" (HTTP {result.get('status')})" if result.get("status") else "")
            + ". Check that the sandbox's webhook URL points at this server.",
            fields={"sandbox": [str(result)[:200]]},
        )
    return result


def _phone_context(request: HttpRequest) -> dict:
    wa_id = simulator_wa_id(request.user)
    contact = Contact.objects.filter(wa_id=wa_id).first()
    conversation = Conversation.objects.filter(contact=contact).select_related("contact").first() if contact else None
    thread = selectors.thread_get(conversation=conversation, limit=100) if conversation else None
    return {"conversation": conversation, "thread": thread, "wa_id": wa_id}


@login_required
@handles_errors
@require_GET
def simulator_page(request: HttpRequest) -> HttpResponse:
    base = sandbox_url()
    number = simulator_phone_number()
    context = {
        "sandbox": base,
        "number": number,
        "ws_url": _ws_url(request),
        "is_owner": user_is_owner(request.user),
        **_phone_context(request),
    }
    return render(request, "conversations/simulator.html", context)


@login_required
@handles_errors
@require_GET
def phone_fragment(request: HttpRequest) -> HttpResponse:
    return render(request, "conversations/_phone_screen.html", _phone_context(request))


@login_required
@handles_errors
@require_POST
def simulator_send(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "text")
    if kind == "text":
        text = request.POST.get("text", "").strip()
        if not text:
            raise ValidationFailed("Type a message first.", fields={"text": ["empty"]})
        if len(text) > TEXT_MAX:
            message = f"WhatsApp messages have at most {TEXT_MAX:,} characters."
            raise ValidationFailed(message, fields={"text": ["long"]})
        data = {"text": text}
    elif kind in ("button_reply", "list_reply"):
        payload_id, title = request.POST.get("payload_id", ""), request.POST.get("title", "")
        if not payload_id or not title:
            raise ValidationFailed("That button has nothing to send.", fields={"payload_id": ["empty"]})
        data = {"payload_id": payload_id[:256], "title": title[:24], "context_wamid": request.POST.get("context", "")}
        if kind == "list_reply":
            data["row_id"] = payload_id[:200]
    elif kind == "quick_reply":
        payload = request.POST.get("payload_id", "")
        data = {"payload": payload[:256], "text": request.POST.get("title", payload)[:24]}
        if request.POST.get("context"):
            data["context_wamid"] = request.POST["context"]
    elif kind == "image":
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed("Choose an image.", fields={"file": ["missing"]})
        if upload.content_type not in ("image/jpeg", "image/png"):
            raise ValidationFailed("WhatsApp images are JPEG or PNG.", fields={"file": ["type"]})
        if upload.size > IMAGE_MAX:
            raise ValidationFailed("WhatsApp images are at most 5 MB.", fields={"file": ["too large"]})
        kind = "media"
        data = {
            "media_type": "image",
            "media_id": f"sim{secrets.token_hex(8)}",
            "mime_type": upload.content_type,
            "data_base64": base64.b64encode(upload.read()).decode(),
            "caption": request.POST.get("caption", "")[:1024] or None,
        }
    else:
        raise ValidationFailed("Unknown kind of message.", fields={"kind": ["unknown"]})
    simulator_inject(user=request.user, kind=kind, data={k: v for k, v in data.items() if v not in (None, "")})
    return render(request, "conversations/_phone_screen.html", _phone_context(request))
