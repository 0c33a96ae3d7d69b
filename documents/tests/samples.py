"""Documents made for the tests (and the benchmark): what is drawn is what must be read back.

Fonts: Pillow's bundled default font (FreeType) and fpdf2's core Helvetica, so nothing
depends on the fonts a machine happens to have.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image, ImageDraw, ImageFont

_FIXED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Invoice:
    number: str = "INV-2026-0042"
    day: str = "03/12/2026"  # DMY, the tenant default
    iso_day: str = "2026-12-03"
    gstin: str = "27AAPFU0939F1ZV"  # checksum valid
    email: str = "billing@sharmatraders.in"
    total: str = "1,25,000.00"
    total_value: str = "125000.00"
    customer: str = "Ravi Kumar"

    def lines(self) -> list[str]:
        return [
            "SHARMA TRADERS",
            "TAX INVOICE",
            f"Invoice No: {self.number}",
            f"Invoice Date: {self.day}",
            f"GSTIN: {self.gstin}",
            f"Email: {self.email}",
            f"Bill To: {self.customer}",
            "Item            Qty     Price",
            "Steel rods      10      Rs. 1,00,000.00",
            "GST 25%                 Rs. 25,000.00",
            f"Grand Total: Rs. {self.total}",
        ]


def invoice_png(invoice: Invoice = Invoice(), *, size: int = 34, width: int = 1400) -> bytes:
    font = ImageFont.load_default(size=size)
    lines = invoice.lines()
    height = 120 + len(lines) * int(size * 1.8)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    y = 60
    for line in lines:
        draw.text((70, y), line, fill=(20, 20, 20), font=font)
        y += int(size * 1.8)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def skewed_invoice_png(invoice: Invoice = Invoice(), *, degrees: float) -> bytes:
    """The drawn invoice turned ``degrees`` counter-clockwise, as a crooked scan or photo is."""
    image = Image.open(io.BytesIO(invoice_png(invoice))).convert("RGB")
    turned = image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")
    out = io.BytesIO()
    turned.save(out, format="PNG")
    return out.getvalue()


def invoice_jpeg(invoice: Invoice = Invoice()) -> bytes:
    image = Image.open(io.BytesIO(invoice_png(invoice)))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def text_pdf(invoice: Invoice = Invoice(), *, pages: int = 1) -> bytes:
    """A PDF with a real text layer (what accounting software sends)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(_FIXED)  # same bytes every call
    pdf.set_font("Helvetica", size=13)
    for _ in range(pages):
        pdf.add_page()
        for line in invoice.lines():
            pdf.cell(0, 9, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def scanned_pdf(invoice: Invoice = Invoice(), *, pages: int = 1) -> bytes:
    """A PDF of page images and no text layer (a scan, a phone's "save as PDF")."""
    from fpdf import FPDF

    page_png = invoice_png(invoice)
    pdf = FPDF()
    pdf.set_creation_date(_FIXED)
    for _ in range(pages):
        pdf.add_page()
        pdf.image(io.BytesIO(page_png), x=10, y=10, w=190)
    return bytes(pdf.output())


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(text_pdf())).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, format="PNG")
    return out.getvalue()


CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"garbage that is not a png" * 20
