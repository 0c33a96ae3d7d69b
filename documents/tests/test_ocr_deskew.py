"""Small-angle deskew (issue 12 §2): a page a few degrees off is levelled before tesseract reads it.

Real tesseract over the drawn invoice turned by a few degrees, both ways. Each case also reads
the page without the deskew, to show it is what makes the difference: tesseract's orientation
detection only fixes quarter turns, and on these pages it misreads or loses the amount, the
GSTIN or the invoice number.
"""

import pytest
from PIL import Image

from documents import ocr
from documents.extraction import extract
from documents.tests.samples import Invoice, blank_png, invoice_png, skewed_invoice_png

LIMITS = ocr.Limits(max_pages=5, max_pixels=20_000_000, seconds_per_page=60)
INVOICE = Invoice(number="INV-2026-0042", gstin="27AAPFU0939F1ZV", total="1,25,000.00", total_value="125000.00")


def key_fields(page: ocr.PageText) -> dict[str, str | None]:
    found = extract([(page.text, page.confidence)])
    best: dict[str, str] = {}
    for item in found.fields:
        best.setdefault(item.name, item.value)
    return {name: best.get(name) for name in ("invoice_number", "amount", "gstin")}


DRAWN = {"invoice_number": INVOICE.number, "amount": INVOICE.total_value, "gstin": INVOICE.gstin}


def page_of(data: bytes) -> Image.Image:
    return ocr.image_open(data, limits=LIMITS)


@pytest.mark.parametrize("degrees", [4, 7, -6])
def test_a_skewed_invoice_is_levelled_and_read(degrees):
    image = page_of(skewed_invoice_png(INVOICE, degrees=degrees))
    assert ocr.skew_angle(image) == pytest.approx(degrees, abs=0.5)

    levelled = ocr.image_ocr(image, languages="eng+hin", limits=LIMITS)
    assert key_fields(levelled) == DRAWN

    crooked = ocr.image_ocr(image, languages="eng+hin", limits=LIMITS, deskew=False)
    assert key_fields(crooked) != DRAWN  # what the deskew is for


def test_a_skewed_invoice_is_read_through_the_whole_pipeline():
    pages = ocr.document_read(
        skewed_invoice_png(INVOICE, degrees=5), mime_type="image/png", languages="eng", limits=LIMITS
    )
    assert key_fields(pages[0]) == DRAWN


def test_a_level_page_is_not_turned():
    assert abs(ocr.skew_angle(page_of(invoice_png(INVOICE)))) < ocr.SKEW_MIN_DEGREES


def test_a_page_without_lines_of_text_has_no_skew():
    assert ocr.skew_angle(page_of(blank_png(800, 600))) == 0.0
    photo = Image.radial_gradient("L").resize((600, 600))  # shading, no lines of text
    assert ocr.skew_angle(photo) == 0.0


def test_the_estimate_is_within_a_fraction_of_a_degree():
    for degrees in (-9.5, -3.3, 1.5, 2.75, 8.0):
        image = page_of(skewed_invoice_png(INVOICE, degrees=degrees))
        assert ocr.skew_angle(image) == pytest.approx(degrees, abs=0.3), degrees
