"""Reads of the documents app. Inside a tenant's schema every signed-in user of the tenant
(owner or staff) may see all of its documents; the tenant boundary is the schema itself."""

from django.db.models import Prefetch, QuerySet

from bizmitra.errors import NotFound
from documents.models import Document, DocumentField


def document_list(*, user) -> QuerySet[Document]:
    return Document.objects.select_related("contact").prefetch_related(
        Prefetch("fields", queryset=DocumentField.objects.order_by("-confidence", "id"))
    )


def document_get(*, user, document_id: int) -> Document:
    document = document_list(user=user).select_related("reviewed_by", "uploaded_by").filter(pk=document_id).first()
    if document is None:
        raise NotFound(f"Document {document_id} does not exist.")
    return document


def document_key_fields(document: Document) -> dict[str, str]:
    """The best value of each field, from the prefetched rows (no query per document)."""
    best: dict[str, str] = {}
    for item in document.fields.all():
        best.setdefault(item.name, item.value)
    return best
