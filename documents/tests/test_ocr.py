"""Real tesseract and poppler over generated documents: what was drawn is what is read."""

import pytest

from documents import ocr
from documents.extraction import extract, identity_mask
from documents.tests.samples import (
    CORRUPT_PNG,
    Invoice,
    blank_png,
    encrypted_pdf,
    invoice_jpeg,
    invoice_png,
    scanned_pdf,
    text_pdf,
)

LIMITS = ocr.Limits(max_pages=5, max_pixels=20_000_000, seconds_per_page=60)


def read(data: bytes, mime_type: str, limits: ocr.Limits = LIMITS):
    pages = ocr.document_read(data, mime_type=mime_type, languages="eng+hin", limits=limits)
    found = extract([(identity_mask(p.text)[0], p.confidence) for p in pages])
    return pages, found


def values(found) -> dict[str, str]:
    best: dict[str, str] = {}
    for item in found.fields:
        best.setdefault(item.name, item.value)
    return best


def assert_invoice_read(found, invoice: Invoice) -> None:
    got = values(found)
    assert got["invoice_number"] == invoice.number
    assert got["amount"] == invoice.total_value
    assert got["currency"] == "INR"
    assert got["date"] == invoice.iso_day
    assert got["gstin"] == invoice.gstin
    assert got["email"] == invoice.email
    assert found.kind == "invoice"
    assert found.validation == "valid", found.reasons


@pytest.mark.parametrize("make,mime_type", [(invoice_png, "image/png"), (invoice_jpeg, "image/jpeg")])
def test_drawn_invoice_image_is_read(make, mime_type):
    invoice = Invoice()
    pages, found = read(make(invoice), mime_type)
    assert [p.method for p in pages] == ["ocr"]
    assert_invoice_read(found, invoice)


def test_pdf_text_layer_is_used_without_ocr():
    invoice = Invoice(number="INV-7781", total="12,400.00", total_value="12400.00")
    pages, found = read(text_pdf(invoice, pages=2), "application/pdf")
    assert [p.method for p in pages] == ["text_layer", "text_layer"]
    assert_invoice_read(found, invoice)


def test_scanned_pdf_pages_are_rendered_and_ocrd():
    invoice = Invoice(number="BILL/26/913", gstin="29AAGCB7383J1Z4")
    progress = []
    pages = ocr.document_read(
        scanned_pdf(invoice, pages=2),
        mime_type="application/pdf",
        languages="eng",
        limits=LIMITS,
        on_page=lambda page, total: progress.append((page.number, total)),
    )
    assert [p.method for p in pages] == ["ocr", "ocr"]
    assert progress == [(1, 2), (2, 2)]
    found = extract([(p.text, p.confidence) for p in pages])
    assert_invoice_read(found, invoice)


def test_corrupt_image_fails_with_a_reason():
    with pytest.raises(ocr.OcrFailed, match="corrupt"):
        ocr.document_read(CORRUPT_PNG, mime_type="image/png", languages="eng", limits=LIMITS)


def test_encrypted_pdf_fails_with_a_reason():
    with pytest.raises(ocr.OcrFailed, match="password-protected"):
        ocr.document_read(encrypted_pdf(), mime_type="application/pdf", languages="eng", limits=LIMITS)


def test_truncated_pdf_fails_with_a_reason():
    with pytest.raises(ocr.OcrFailed, match="corrupt"):
        ocr.document_read(b"%PDF-1.7\n1 0 obj", mime_type="application/pdf", languages="eng", limits=LIMITS)


def test_unsupported_type_fails_with_a_reason():
    with pytest.raises(ocr.OcrFailed, match="not read"):
        ocr.document_read(b"PK\x03\x04zip", mime_type="application/zip", languages="eng", limits=LIMITS)


def test_too_many_pages_fails_before_reading():
    with pytest.raises(ocr.OcrFailed, match="6 pages; at most 5"):
        ocr.document_read(text_pdf(pages=6), mime_type="application/pdf", languages="eng", limits=LIMITS)


def test_decompression_bomb_guard_refuses_huge_images():
    small = ocr.Limits(max_pages=1, max_pixels=1_000_000, seconds_per_page=30)
    with pytest.raises(ocr.OcrFailed, match="more than 1,000,000 pixels"):
        ocr.document_read(blank_png(1200, 1000), mime_type="image/png", languages="eng", limits=small)


def test_missing_language_pack_is_named():
    with pytest.raises(ocr.OcrFailed, match="language.*xyz.*not installed.*apt-get install"):
        ocr.tools_check("eng+xyz")


def test_missing_tesseract_binary_is_named(monkeypatch):
    # The binary path is pytesseract's configuration, not our code: point it nowhere.
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(ocr.OcrFailed, match="tesseract is not installed"):
        ocr.tools_check("eng")


def test_thumbnail_of_pdf_and_image():
    from io import BytesIO

    from PIL import Image

    for data, mime_type in ((invoice_png(), "image/png"), (text_pdf(), "application/pdf")):
        thumb = ocr.thumbnail(data, mime_type=mime_type, limits=LIMITS)
        image = Image.open(BytesIO(thumb))
        assert image.format == "PNG" and image.width <= 320
    assert ocr.thumbnail(CORRUPT_PNG, mime_type="image/png", limits=LIMITS) is None


def test_a_page_over_its_time_limit_fails_with_a_reason():
    hurried = ocr.Limits(max_pages=1, max_pixels=20_000_000, seconds_per_page=0.01)
    with pytest.raises(ocr.OcrFailed, match="took longer than 0.01 seconds"):
        ocr.document_read(invoice_png(), mime_type="image/png", languages="eng", limits=hurried)


HINDI_FONT = "/usr/share/fonts/truetype/lohit-devanagari/Lohit-Devanagari.ttf"  # fonts-lohit-deva


def hindi_receipt_png() -> bytes:
    """A payment receipt written in Hindi (Devanagari), drawn with a real Devanagari font
    (Pillow shapes the conjuncts with raqm, as a phone screenshot shows them)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(HINDI_FONT, 44)
    image = Image.new("RGB", (1400, 500), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(["भुगतान रसीद", "ग्राहक का नाम: सुनीता शर्मा", "कुल राशि: ₹ 12400.00", "दिनांक: 03/12/2026"]):
        draw.text((60, 40 + row * 100), line, font=font, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_receipt_in_hindi_is_read_in_devanagari_with_its_date_and_amount():
    pages, found = read(hindi_receipt_png(), "image/png")
    text = pages[0].text
    assert "भुगतान रसीद" in text and "सुनीता शर्मा" in text, text
    got = values(found)
    assert got["date"] == "2026-12-03"
    assert got["amount"] == "12400.00" and got["currency"] == "INR"


def test_without_the_hindi_pack_devanagari_is_not_read():
    """The tenant's languages matter: English alone does not read the same receipt."""
    [page] = ocr.document_read(hindi_receipt_png(), mime_type="image/png", languages="eng", limits=LIMITS)
    assert "भुगतान" not in page.text
