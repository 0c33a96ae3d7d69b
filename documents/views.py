"""Pages and files of the documents app on a tenant's domain."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from bizmitra.storage import media_link_resolve, media_sniff

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
