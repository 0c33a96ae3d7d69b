"""Pages and htmx fragments of the inbox (thin: parse, call a selector or service, render).

A page view renders the whole page for a normal request and only its fragment for an htmx
request (``request.htmx``). Errors a person can fix come back as the same fragment with the
message inline and a 4xx status (htmx is configured in the layout to swap 400/403/404/409/422),
never as a 500.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from bizmitra.errors import ApplicationError, NotFound, ValidationFailed
from conversations.choices import ConversationStatus, Direction
from conversations.dashboard import selectors, services
from conversations.selectors import user_is_owner
from conversations.services.outbound import DuplicateMessage

UPLOAD_MAX = 100 * 1024 * 1024


def handles_errors(view):
    """Application errors become 4xx pages or fragments with a toast, never a 500."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            if not request.htmx:
                raise Http404(exc.message) from None
            return _refuse(exc.message, 404)
        except ApplicationError as exc:
            return _refuse(exc.message, exc.http_status if 400 <= exc.http_status < 500 else 422)

    return wrapper


def _ws_url(request: HttpRequest) -> str:
    return settings.LIVE_WEBSOCKET_URL.format(host=request.get_host().split(":")[0])


def _toast(response: HttpResponse, text: str, kind: str = "") -> HttpResponse:
    response["HX-Trigger"] = json.dumps({"toast": {"text": text, "kind": kind}})
    return response


def _refuse(text: str, status: int) -> HttpResponse:
    """A 4xx with only a toast: nothing on the page is replaced (``HX-Reswap: none``)."""
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    response["HX-Reswap"] = "none"
    return _toast(response, text, "error")


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _list_context(request: HttpRequest) -> dict:
    filter_name = request.GET.get("filter", "all")
    if filter_name not in selectors.FILTERS:
        filter_name = "all"
    query = request.GET.get("q", "").strip()[: selectors.SEARCH_MAX]
    rows, next_cursor = selectors.inbox_page(
        user=request.user, filter_name=filter_name, query=query, cursor=request.GET.get("cursor", "")
    )
    return {
        "rows": rows,
        "next_cursor": next_cursor,
        "filter": filter_name,
        "filters": selectors.FILTERS,
        "q": query,
        "is_owner": user_is_owner(request.user),
    }


def _page_context(request: HttpRequest) -> dict:
    return {
        "ws_url": _ws_url(request),
        "rendered_at": timezone.now().timestamp(),
        "unread_total": selectors.unread_total(user=request.user),
        "is_owner": user_is_owner(request.user),
    }


@login_required
@handles_errors
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    try:
        context = _list_context(request)
    except ValidationFailed as exc:
        return _refuse(exc.message, 422)
    if request.htmx and request.GET.get("fragment") == "rows":
        return render(request, "conversations/_list_rows.html", context)
    if request.htmx and request.htmx.target == "conversation-list":
        return render(request, "conversations/_list.html", context)
    checklist = selectors.first_run_checklist(user=request.user)
    return render(
        request,
        "conversations/inbox.html",
        {
            **context,
            **_page_context(request),
            "selected": None,
            "checklist": checklist,
            "checklist_open": not all(step["done"] for step in checklist),
        },
    )


def _conversation_or_404(request: HttpRequest, conversation_id: int):
    return selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)


def _newest_inbound(thread):
    for item in reversed(thread.items):
        message = item.obj
        if (
            item.kind == "message"
            and message.direction == Direction.INBOUND
            and message.type not in ("reaction", "system")
        ):
            return message
    return None


def _thread_context(request: HttpRequest, conversation, *, error: str = "") -> dict:
    thread = selectors.thread_get(conversation=conversation)
    return {
        "conversation": conversation,
        "contact": conversation.contact,
        "display_name": selectors.contact_display_name(conversation.contact),
        "thread": thread,
        **_composer_context(request, conversation, thread=thread, error=error),
    }


def _composer_context(request: HttpRequest, conversation, *, thread=None, error: str = "", values=None) -> dict:
    window_closes_at = thread.window_closes_at if thread else selectors.window_closes_at(conversation.contact)
    picked = _picked_template(conversation, values) if values and values.get("template") else {}
    return {
        **picked,
        "conversation": conversation,
        "composer_key": uuid.uuid4().hex,
        "composer_error": error,
        "composer_text": (values or {}).get("text", ""),
        "window_open": window_closes_at is not None,
        "window_closes_at": window_closes_at,
        "opted_out": conversation.contact.opted_out_at is not None,
        "templates": selectors.sendable_templates() if window_closes_at is None else [],
        "canned": selectors.canned_responses(),
        "is_owner": user_is_owner(request.user),
        "text_max": services.TEXT_MAX,
        "handed_off": conversation.status == ConversationStatus.HANDED_OFF,
    }


@login_required
@handles_errors
@require_GET
def conversation_page(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation_or_404(request, conversation_id)
    context = _thread_context(request, conversation)
    thread = context["thread"]
    services.conversation_mark_read(
        conversation=conversation, user=request.user, newest_inbound=_newest_inbound(thread)
    )
    context["panel"] = selectors.contact_panel(conversation=conversation, thread=thread)
    if request.htmx and request.htmx.target == "conversation":
        return render(request, "conversations/_conversation.html", context)
    try:
        list_context = _list_context(request)
    except ValidationFailed:
        list_context = {}
    return render(
        request,
        "conversations/inbox.html",
        {**list_context, **context, **_page_context(request), "selected": conversation},
    )


@login_required
@handles_errors
@require_GET
def thread_fragment(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation_or_404(request, conversation_id)
    before = _int(request.GET.get("before"))
    if before:
        thread = selectors.thread_get(conversation=conversation, before_id=before)
        return render(request, "conversations/_thread_earlier.html", {"thread": thread, "conversation": conversation})
    if request.GET.get("read") == "1":
        services.conversation_mark_read(conversation=conversation, user=request.user)
    return render(request, "conversations/_thread.html", _thread_context(request, conversation))


@login_required
@handles_errors
@require_GET
def row_fragment(request: HttpRequest, conversation_id: int) -> HttpResponse:
    row = selectors.inbox_row(user=request.user, conversation_id=conversation_id)
    response = render(
        request,
        "conversations/_row.html",
        {"c": row, "selected_id": _int(request.GET.get("selected")), "is_owner": user_is_owner(request.user)},
    )
    # The tab title and nav badge follow every live row refresh.
    response["X-Unread-Total"] = str(selectors.unread_total(user=request.user))
    return response


@login_required
@handles_errors
@require_GET
def message_fragment(request: HttpRequest, conversation_id: int, message_id: int) -> HttpResponse:
    message = selectors.message_for_user(user=request.user, message_id=message_id)
    if message.conversation_id != conversation_id:
        raise NotFound("Message not found.")
    if request.GET.get("read") == "1" and message.direction == Direction.INBOUND:
        # The page shows it to someone right now: read, like opening the conversation.
        services.conversation_mark_read(conversation=message.conversation, user=request.user, newest_inbound=message)
    return render(request, "conversations/_message.html", {"m": message, "conversation": message.conversation})


@login_required
@handles_errors
@require_GET
def panel_fragment(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation_or_404(request, conversation_id)
    context = {
        "conversation": conversation,
        "panel": selectors.contact_panel(conversation=conversation),
        "display_name": selectors.contact_display_name(conversation.contact),
        **_composer_context(request, conversation),
    }
    return render(request, "conversations/_panel.html", context)


@login_required
@handles_errors
@require_GET
def menu_fragment(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The "more actions" menu (assign, labels), loaded when first opened."""
    conversation = _conversation_or_404(request, conversation_id)
    context = {
        "conversation": conversation,
        "teammates": selectors.teammates(),
        "labels_all": selectors.labels_all(),
        "is_owner": user_is_owner(request.user),
    }
    return render(request, "conversations/_menu.html", context)


@login_required
@handles_errors
@require_GET
def composer_fragment(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation_or_404(request, conversation_id)
    return render(request, "conversations/_composer.html", _composer_context(request, conversation))


def _composer_reply(request, conversation, *, message=None, note=None, error: str = "", status: int = 200, values=None):
    context = _composer_context(request, conversation, error=error, values=values)
    if message is not None:
        message = selectors.message_for_user(user=request.user, message_id=message.pk)
    context["sent_message"] = message
    context["sent_note"] = note
    response = render(request, "conversations/_composer.html", context, status=status)
    if error:
        _toast(response, error, "error")
    return response


def _guarded(request: HttpRequest, conversation_id: int):
    """The conversation for a write, refusing stale pages (``conversation_guard``)."""
    conversation = _conversation_or_404(request, conversation_id)
    expected = request.POST.get("expected_assignee")
    services.conversation_guard(conversation=conversation, user=request.user, expected_assignee=expected)
    return conversation


def _send(request: HttpRequest, conversation_id: int, send) -> HttpResponse:
    try:
        conversation = _conversation_or_404(request, conversation_id)
    except NotFound:
        return _refuse("This conversation was just assigned to a teammate. Nothing was sent.", 404)
    values = {"text": request.POST.get("text", ""), "template": request.POST.get("template", "")}
    values["vars"] = {key[4:]: value for key, value in request.POST.items() if key.startswith("var_")}
    try:
        services.conversation_guard(
            conversation=conversation, user=request.user, expected_assignee=request.POST.get("expected_assignee")
        )
        result = send(conversation)
    except DuplicateMessage as exc:
        # The same submit again (double click, network retry): the first one stands.
        from conversations.models import Message

        return _composer_reply(request, conversation, message=Message.objects.get(pk=exc.message_id))
    except ApplicationError as exc:
        status = exc.http_status if 400 <= exc.http_status < 500 else 422
        return _composer_reply(request, conversation, error=exc.message, status=status, values=values)
    conversation.refresh_from_db()
    if hasattr(result, "direction"):
        return _composer_reply(request, conversation, message=result)
    return _composer_reply(request, conversation, note=result)


@login_required
@handles_errors
@require_POST
def send_text(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _send(
        request,
        conversation_id,
        lambda c: services.composer_send_text(
            conversation=c,
            user=request.user,
            text=request.POST.get("text", ""),
            idempotency_key=request.POST.get("idempotency_key", ""),
        ),
    )


@login_required
@handles_errors
@require_POST
def send_note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _send(
        request,
        conversation_id,
        lambda c: services.note_create(
            conversation=c,
            author=request.user,
            body=request.POST.get("text", ""),
            idempotency_key=request.POST.get("idempotency_key", ""),
        ),
    )


@login_required
@handles_errors
@require_POST
def send_template(request: HttpRequest, conversation_id: int) -> HttpResponse:
    values = {key[4:]: value for key, value in request.POST.items() if key.startswith("var_")}
    return _send(
        request,
        conversation_id,
        lambda c: services.composer_send_template(
            conversation=c,
            user=request.user,
            template_key=request.POST.get("template", ""),
            values=values,
            idempotency_key=request.POST.get("idempotency_key", ""),
        ),
    )


@login_required
@handles_errors
@require_POST
def send_attachment(request: HttpRequest, conversation_id: int) -> HttpResponse:
    upload = request.FILES.get("file")

    def send(conversation):
        if upload is None:
            raise ValidationFailed("Choose a file to send.", fields={"file": ["missing"]})
        if upload.size > UPLOAD_MAX:
            raise ValidationFailed("WhatsApp allows files up to 100 MB.", fields={"file": ["too large"]})
        return services.composer_send_attachment(
            conversation=conversation,
            user=request.user,
            data=upload.read(),
            filename=upload.name or "",
            mime_type=upload.content_type or "",
            caption=request.POST.get("caption", ""),
            idempotency_key=request.POST.get("idempotency_key", ""),
        )

    return _send(request, conversation_id, send)


@login_required
@handles_errors
@require_GET
def template_form(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The variable fields and live preview of one template (the picker outside the window)."""
    from templates.rendering import render_context, template_slots
    from templates.selectors import template_get

    conversation = _conversation_or_404(request, conversation_id)
    template = template_get(key=request.GET.get("template", ""))
    if template is None or not template.is_meta:
        return render(request, "conversations/_template_form.html", {"template": None, "conversation": conversation})
    slots = template_slots(template)
    defaults = render_context(contact=conversation.contact)
    values = {}
    for slot in slots:
        if f"var_{slot}" in request.GET:
            values[slot] = request.GET.get(f"var_{slot}", "")
        else:
            source = ((template.variables or {}).get(slot) or {}).get("source", slot)
            values[slot] = str(defaults.get(source, "") or "")
    preview = _template_preview(template, values)
    context = {
        "conversation": conversation,
        "template": template,
        "fields": [(slot, values[slot]) for slot in slots],
        "preview": preview,
    }
    if request.GET.get("preview_only") == "1":
        return render(request, "conversations/_template_preview.html", context)
    return render(request, "conversations/_template_form.html", context)


def _picked_template(conversation, values: dict) -> dict:
    """After a refused template send: the same template and the values typed, to fix and resend."""
    from templates.rendering import template_slots
    from templates.selectors import template_get

    template = template_get(key=values["template"])
    if template is None or not template.is_meta:
        return {}
    typed = values.get("vars") or {}
    fields = [(slot, typed.get(slot, "")) for slot in template_slots(template)]
    return {
        "picked_template": template,
        "fields": fields,
        "template": template,
        "preview": _template_preview(template, dict(fields)),
    }


def _template_preview(template, values: dict[str, str]) -> dict:
    from templates.text import substitute

    def resolve(slot: str) -> str:
        value = values.get(slot, "")
        if value:
            return value
        fallback = ((template.variables or {}).get(slot) or {}).get("fallback", "")
        return fallback or "{{" + slot + "}}"

    header = body = footer = ""
    buttons = []
    for component in template.meta_components or []:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER" and component.get("format", "TEXT").upper() == "TEXT":
            header = substitute(str(component.get("text") or ""), resolve)
        elif kind == "BODY":
            body = substitute(str(component.get("text") or ""), resolve)
        elif kind == "FOOTER":
            footer = str(component.get("text") or "")
        elif kind == "BUTTONS":
            buttons = [str(b.get("text") or "") for b in component.get("buttons") or []]
    if not body:
        body = substitute(template.body or "", resolve)
    return {"header": header, "body": body, "footer": footer, "buttons": buttons}


ACTIONS = ("take_over", "return_to_bot", "assign", "resolve", "reopen", "mark_unread", "label")


@login_required
@handles_errors
@require_POST
def conversation_action(request: HttpRequest, conversation_id: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise NotFound("No such action.")
    try:
        with transaction.atomic():
            conversation = _guarded(request, conversation_id)
            text = _do_action(request, conversation, action)
    except NotFound:
        return _refuse("This conversation is not available to you any more.", 404)
    except ApplicationError as exc:
        return _refuse(exc.message, exc.http_status if 400 <= exc.http_status < 500 else 422)
    try:
        conversation = _conversation_or_404(request, conversation_id)
    except NotFound:
        # An agent who hands the conversation to a teammate no longer sees it.
        response = HttpResponse(status=200)
        response["HX-Redirect"] = "/"
        return _toast(response, text, "success")
    if action == "mark_unread":
        response = HttpResponse(status=200)
        response["HX-Redirect"] = "/"
        return _toast(response, text, "success")
    context = _thread_context(request, conversation)
    context["panel"] = selectors.contact_panel(conversation=conversation, thread=context["thread"])
    response = render(request, "conversations/_conversation.html", context)
    return _toast(response, text, "success")


def _do_action(request: HttpRequest, conversation, action: str) -> str:
    user = request.user
    if action == "take_over":
        services.conversation_take_over(conversation=conversation, by=user)
        return "You took over. The bot stays quiet in this conversation."
    if action == "return_to_bot":
        services.conversation_give_back(conversation=conversation, by=user)
        return "Returned to the bot."
    if action == "resolve":
        services.conversation_resolve(conversation=conversation, by=user)
        return "Resolved. It reopens when the customer writes again."
    if action == "reopen":
        services.conversation_reopen(conversation=conversation, by=user)
        return "Reopened."
    if action == "mark_unread":
        services.conversation_mark_unread(conversation=conversation, user=user)
        return "Marked as unread."
    if action == "label":
        on = services.conversation_label_toggle(conversation=conversation, by=user, name=request.POST.get("label", ""))
        return "Label added." if on else "Label removed."
    # assign
    assignee_id = request.POST.get("assignee", "")
    assignee = None
    if assignee_id:
        assignee = get_user_model().objects.filter(pk=_int(assignee_id, 0), is_active=True).first()
        if assignee is None:
            raise ValidationFailed("That teammate does not exist.", fields={"assignee": ["unknown"]})
    services.conversation_assign(conversation=conversation, assignee=assignee, by=user)
    if assignee is None:
        return "Unassigned."
    return f"Assigned to {assignee.get_full_name() or assignee.get_username()}."


@login_required
@handles_errors
@require_POST
def message_retry(request: HttpRequest, conversation_id: int, message_id: int) -> HttpResponse:
    message = selectors.message_for_user(user=request.user, message_id=message_id)
    if message.conversation_id != conversation_id or message.direction != Direction.OUTBOUND:
        raise NotFound("Message not found.")
    try:
        retried = services.message_retry_for_user(message=message)
    except ApplicationError as exc:
        response = render(request, "conversations/_message.html", {"m": message}, status=422)
        return _toast(response, exc.message, "error")
    message = selectors.message_for_user(user=request.user, message_id=message_id)
    response = render(request, "conversations/_message.html", {"m": message})
    if not retried:
        return _toast(response, "This message is not waiting for a retry any more.", "")
    return _toast(response, "Sending again…", "success")


@login_required
@handles_errors
@require_POST
def canned_create(request: HttpRequest) -> HttpResponse:
    try:
        services.canned_response_create(
            shortcut=request.POST.get("shortcut", ""),
            body=request.POST.get("body", ""),
            title=request.POST.get("title", ""),
            by=request.user,
        )
    except ValidationFailed as exc:
        return _refuse(exc.message, 422)
    response = render(request, "conversations/_canned_list.html", {"canned": selectors.canned_responses()})
    return _toast(response, "Saved reply added. Type / in the composer to use it.", "success")


@login_required
@handles_errors
@require_GET
def live_catchup(request: HttpRequest) -> JsonResponse:
    """What changed since ``since`` (a server timestamp the page got from an event or at render)."""
    since_value = request.GET.get("since", "")
    try:
        since = datetime.fromtimestamp(float(since_value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return JsonResponse(
            {"error": "validation_failed", "message": "since must be a Unix timestamp", "fields": {"since": ["bad"]}},
            status=422,
        )
    # Nobody is offline for long with a tab open; a full reload is cheaper past an hour.
    if since < timezone.now() - timedelta(hours=1):
        return JsonResponse({"reload": True, "now": timezone.now().timestamp()})
    changes = selectors.changes_since(user=request.user, since=since, conversation_id=_int(request.GET.get("c")))
    return JsonResponse(
        {**changes, "now": timezone.now().timestamp(), "unread_total": selectors.unread_total(user=request.user)}
    )


def owners_only(view):
    """Settings-like pages: agents get a 403 (the nav does not even show them)."""

    def wrapper(request, *args, **kwargs):
        if not user_is_owner(request.user):
            raise PermissionDenied("Owners only.")
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return login_required(wrapper)


@login_required
@handles_errors
@require_GET
def message_media(request: HttpRequest, conversation_id: int, message_id: int) -> HttpResponse:
    """A message's stored media, to signed-in teammates who may see the conversation only."""
    from django.http import FileResponse

    message = selectors.message_for_user(user=request.user, message_id=message_id)
    if message.conversation_id != conversation_id or not message.media_file:
        raise NotFound("No file for this message.")
    try:
        handle = message.media_file.open("rb")
    except (FileNotFoundError, OSError):
        raise NotFound("The file is no longer stored.") from None
    response = FileResponse(
        handle,
        content_type=message.media_mime_type or "application/octet-stream",
        as_attachment=request.GET.get("download") == "1",
        filename=message.media_filename or None,
    )
    # Customer-sent files are served from our origin: never let the browser sniff them into HTML.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
