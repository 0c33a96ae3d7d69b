"""Pages and files of the documents app on a tenant's domain (session auth; owners correct)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from bizmitra.errors import NotFound, ValidationFailed
from bizmitra.storage import media_link, media_link_resolve, media_sniff
from documents.services import CORRECTABLE_FIELDS

INLINE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf")


@require_GET
def media_file(request, token: str):
    """Serve a stored file behind a signed, expiring link (``bizmitra.storage.media_link``).

    Bucket URLs are never shown; this is the only way a browser reaches a file, and only on
    the tenant's own host (the link names the schema). Anything wrong answers 404, so a
    link gives away nothing about whether a file exists.
    """
    target = media_link_resolve(token=token, expires=request.GET.get("e", ""), mac=request.GET.get("h", ""))
    if target is None:
        raise Http404("This link is invalid or has expired.")
    try:
        handle = default_storage.open(target.name, "rb")
        head = handle.read(8192)
        handle.seek(0)
    except (FileNotFoundError, OSError):
        raise Http404("This file is gone.") from None
    content_type = media_sniff(head)
    inline = content_type in INLINE_TYPES
    response = FileResponse(
        handle,
        content_type=content_type if inline else "application/octet-stream",
        as_attachment=not inline,
        filename=target.download_name or target.name.rsplit("/", 1)[-1],
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return response


# -- dashboard pages --------------------------------------------------------------------------

PAGE_SIZE = 24
KEY_FIELDS = ("amount", "date", "invoice_number", "gstin", "email", "phone")


def _owner_or_403(user) -> None:
    from conversations.selectors import user_is_owner

    if not user_is_owner(user):
        raise PermissionDenied("Only owners can correct documents.")


def _card(document) -> dict:
    from documents.selectors import document_key_fields

    fields = document_key_fields(document)
    return {
        "document": document,
        "thumb": media_link(name=document.thumbnail.name) if document.thumbnail else "",
        "fields": [(name, fields[name]) for name in KEY_FIELDS if name in fields][:3],
    }


@login_required
@require_GET
def documents_page(request):
    """The Documents page: what customers sent, newest first, filterable (the API's FilterSet)."""
    from django.core.paginator import Paginator

    from documents.filters import DocumentFilter
    from documents.selectors import document_list

    filterset = DocumentFilter(request.GET, queryset=document_list(user=request.user))
    documents = filterset.qs if filterset.is_valid() else document_list(user=request.user).none()
    page = Paginator(documents, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filterset": filterset,
        "page": page,
        "cards": [_card(d) for d in page.object_list],
        "query": request.GET.urlencode(),
    }
    template = "documents/_grid.html" if getattr(request, "htmx", False) else "documents/list.html"
    return render(request, template, context, status=200 if filterset.is_valid() else 422)


@login_required
@require_GET
def document_page(request, document_id: int):
    from conversations.selectors import user_is_owner
    from documents.selectors import document_get

    try:
        document = document_get(user=request.user, document_id=document_id)
    except NotFound:
        raise Http404("No such document.") from None
    return render(
        request,
        "documents/detail.html",
        {
            "document": document,
            "file_link": media_link(name=document.file.name, download_name=document.filename),
            "thumb": media_link(name=document.thumbnail.name) if document.thumbnail else "",
            "is_image": document.mime_type.startswith("image/"),
            "fields": list(document.fields.all()),
            "can_edit": user_is_owner(request.user),
            "correctable": CORRECTABLE_FIELDS,
        },
    )


@login_required
@require_POST
def document_field_correct_view(request, document_id: int):
    """Correct one field (htmx: answers the field's row, or the form with its error, 422)."""
    from documents.selectors import document_get
    from documents.services import document_field_correct

    _owner_or_403(request.user)
    try:
        document = document_get(user=request.user, document_id=document_id)
    except NotFound:
        raise Http404("No such document.") from None
    name = request.POST.get("name", "")
    try:
        field = document_field_correct(
            document=document, name=name, value=request.POST.get("value", ""), user=request.user
        )
    except ValidationFailed as exc:
        draft = request.POST.get("value", "")
        if getattr(request, "htmx", False):
            field = document.fields.filter(name=name).order_by("-confidence", "id").first()
            context = {"document": document, "field": field, "can_edit": True, "error": exc.message, "draft": draft}
            template = "documents/_field_row.html" if field else "documents/_field_error.html"
            return render(request, template, {**context, "name": name}, status=422)
        messages.error(request, exc.message)
        return redirect("dashboard-document", document_id=document.pk)
    if getattr(request, "htmx", False):
        return render(request, "documents/_field_row.html", {"document": document, "field": field, "can_edit": True})
    messages.success(request, f"{name.replace('_', ' ').capitalize()} saved.")
    return redirect("dashboard-document", document_id=document.pk)


@login_required
@require_POST
def document_review_view(request, document_id: int):
    from documents.selectors import document_get
    from documents.services import document_mark_reviewed

    _owner_or_403(request.user)
    try:
        document = document_get(user=request.user, document_id=document_id)
    except NotFound:
        raise Http404("No such document.") from None
    document_mark_reviewed(document=document, user=request.user)
    messages.success(request, "Marked as reviewed.")
    return redirect("dashboard-document", document_id=document.pk)


@login_required
@require_GET
def document_inline(request, message_id: int):
    """The document read from a WhatsApp message, as a card for the conversation thread.

    For the inbox to load with htmx (``hx-get``) under a media message: conversations never
    imports documents, so the thread asks for this fragment by URL. 204 when the message
    has no document.
    """
    from django.http import HttpResponse

    from documents.selectors import document_list

    document = document_list(user=request.user).filter(message_id=message_id).first()
    if document is None:
        return HttpResponse(status=204)
    return render(request, "documents/_inline.html", _card(document))
