"""Files we send are stored too (tenant-namespaced) and uploaded to Meta (the Graph sandbox)."""

import pytest
from django.core.files.storage import default_storage

from bizmitra.errors import ValidationFailed
from conversations.services.media import media_upload_for_send
from documents.tests.samples import invoice_jpeg, invoice_png, text_pdf
from tests.tenancy import ALPHA, BETA


@pytest.fixture
def graph(graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    return graph_sandbox


def test_a_sent_file_is_stored_and_uploaded(in_alpha, graph):
    data = text_pdf()
    sent = media_upload_for_send(
        phone_number_id=ALPHA["phone_number_id"], data=data, filename="quote.docx", kind="document"
    )
    assert sent.mime_type == "application/pdf"  # sniffed: the name said .docx
    assert sent.name.startswith("tenants/alpha/sent/") and sent.name.endswith("-quote.pdf")
    assert default_storage.open(sent.name).read() == data
    stored = graph.state.media[sent.media_id]
    assert (stored.data, stored.mime_type, stored.phone_number_id) == (
        data,
        "application/pdf",
        ALPHA["phone_number_id"],
    )
    default_storage.delete(sent.name)


@pytest.mark.parametrize(
    "data,kind,message",
    [
        (text_pdf(), "image", "application/pdf, which WhatsApp does not take as an image"),
        (invoice_png(), "sticker", "image/png, which WhatsApp does not take as a sticker"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * (5 * 1024 * 1024), "image", "WhatsApp allows at most 5242880 bytes"),
        (invoice_jpeg(), "gif", "is not a media type"),
    ],
)
def test_files_meta_would_refuse_are_refused_first(in_alpha, graph, data, kind, message):
    before = len(graph.state.media)
    with pytest.raises(ValidationFailed, match=message):
        media_upload_for_send(phone_number_id=ALPHA["phone_number_id"], data=data, filename="x", kind=kind)
    assert len(graph.state.media) == before


def test_another_tenants_number_is_refused(in_alpha, graph):
    with pytest.raises(ValidationFailed, match="not this business's"):
        media_upload_for_send(phone_number_id=BETA["phone_number_id"], data=invoice_jpeg(), filename="a", kind="image")
