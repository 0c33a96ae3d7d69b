"""Reading text out of images and PDFs: Tesseract (Debian's ``tesseract-ocr``) and poppler.

Pure functions over bytes: no database, so the benchmark and the task share them. Every
problem a customer's file can cause ends in ``OcrFailed`` with a reason a person can read;
the caller keeps the original file.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytesseract
from PIL import Image, ImageOps, UnidentifiedImageError

# Below this many characters a PDF page's text layer is taken as missing (a scan with a
# stray page number, say) and the page is rendered and OCR'd instead.
MIN_TEXT_LAYER_CHARS = 20
# Tesseract reads best at roughly 300 dpi; small phone screenshots are scaled up to this width.
MIN_OCR_WIDTH = 1600
# Below this mean word confidence the binarised variant is tried too, and the better one kept.
RETRY_BELOW_CONFIDENCE = 80.0
RENDER_DPI = 200
# Small-angle deskew (a page photographed or fed into a scanner a little crooked): skews up to
# this many degrees are searched for, and pages tilted less than SKEW_MIN_DEGREES are left as
# they are (tesseract copes with that much; rotating costs a resampling of the page).
SKEW_MAX_DEGREES = 10
SKEW_MIN_DEGREES = 0.5
# The search runs on a copy this many pixels on its longer side: ~55 ms a page here, the
# angle within ~0.2 degrees of the truth (bench/ocr.py measures both).
SKEW_SEARCH_SIZE = 640

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-hin poppler-utils"


class OcrFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_pages: int = 20
    max_pixels: int = 40_000_000
    seconds_per_page: int = 60


@dataclass
class PageText:
    number: int
    text: str
    method: str  # "text_layer" | "ocr"
    confidence: float  # 0-100; 100 for a text layer

    def as_dict(self) -> dict:
        return {
            "number": self.number,
            "method": self.method,
            "chars": len(self.text),
            "confidence": round(self.confidence, 1),
        }


def threads_limit(threads: int) -> None:
    """Cap tesseract's OpenMP threads (it takes every core by default).

    OCR runs beside the replies worker on the same machine; one thread per OCR job keeps a
    backlog from taking the CPU the replies need (bench/ocr.py measures both). Set through
    the environment because that is how tesseract reads it; only OpenMP programs look.
    """
    os.environ["OMP_THREAD_LIMIT"] = str(max(1, threads))


def tools_check(languages: str) -> None:
    """Raise ``OcrFailed`` naming what is missing (binary or language pack)."""
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        raise OcrFailed(f"tesseract is not installed on this server ({INSTALL_HINT})")
    have = set(pytesseract.get_languages(config=""))
    missing = [lang for lang in languages.split("+") if lang and lang not in have]
    if missing:
        raise OcrFailed(f"the OCR language(s) {', '.join(missing)} are not installed ({INSTALL_HINT})")


def image_open(data: bytes, *, limits: Limits) -> Image.Image:
    """Open an image with Pillow's decompression-bomb guard at our pixel limit."""
    previous = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = limits.max_pixels
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x the limit; we refuse at 1x.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise OcrFailed(f"the image has more than {limits.max_pixels:,} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise OcrFailed(f"the image is corrupt or not an image Pillow can read ({exc.__class__.__name__})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return ImageOps.exif_transpose(image)


def _grey(image: Image.Image) -> Image.Image:
    grey = ImageOps.grayscale(image.convert("RGB") if image.mode in ("P", "RGBA", "LA", "CMYK") else image)
    if grey.width < MIN_OCR_WIDTH:
        scale = MIN_OCR_WIDTH / grey.width
        grey = grey.resize((MIN_OCR_WIDTH, max(1, int(grey.height * scale))), Image.Resampling.LANCZOS)
    return ImageOps.autocontrast(grey, cutoff=1)


def _binarised(grey: Image.Image) -> Image.Image:
    # Otsu's threshold from the histogram: separates ink from a shaded or photographed page.
    histogram = grey.histogram()
    total = sum(histogram)
    sum_all = sum(i * h for i, h in enumerate(histogram))
    weight_bg = sum_bg = 0.0
    best, threshold = 0.0, 128
    for level, count in enumerate(histogram):
        weight_bg += count
        if weight_bg == 0 or weight_bg == total:
            continue
        sum_bg += level * count
        mean_bg = sum_bg / weight_bg
        mean_fg = (sum_all - sum_bg) / (total - weight_bg)
        between = weight_bg * (total - weight_bg) * (mean_bg - mean_fg) ** 2
        if between > best:
            best, threshold = between, level
    return grey.point(lambda p: 255 if p > threshold else 0, mode="L")


def _deskewed(grey: Image.Image, *, timeout: int, small_angles: bool = True) -> Image.Image:
    # Tesseract's orientation detection (osd) finds pages photographed sideways or upside down.
    try:
        osd = pytesseract.image_to_osd(grey, output_type=pytesseract.Output.DICT, timeout=timeout)
    except (pytesseract.TesseractError, RuntimeError):
        osd = {}  # too little text to tell: leave it
    rotate = int(osd.get("rotate") or 0)
    upright = grey.rotate(-rotate, expand=True, fillcolor=255) if rotate else grey
    if not small_angles:
        return upright
    # OSD only knows quarter turns; a page a few degrees off bends tesseract's lines
    # (documents/tests/test_ocr.py: at 4 and 7 degrees the amount and GSTIN are misread).
    angle = skew_angle(upright)
    if abs(angle) < SKEW_MIN_DEGREES:
        return upright
    return upright.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def skew_angle(grey: Image.Image) -> float:
    """How many degrees (counter-clockwise) the lines of text on a page are tilted; 0.0 when
    there are no lines to tell by.

    A projection profile, written with Pillow alone (numpy is not a dependency): on a small
    binarised copy, the page is turned by each candidate angle and the ink summed per row;
    when the lines are level, rows of text and the gaps between them alternate sharply, so
    the sum of squared differences between neighbouring rows peaks. Whole degrees first (on
    a smaller copy still), then quarter and twentieth steps around the best.
    """
    small = grey.convert("L")
    small.thumbnail((SKEW_SEARCH_SIZE, SKEW_SEARCH_SIZE), Image.Resampling.BOX)
    ink = ImageOps.invert(_binarised(small))  # ink white on black: the turned corners add none
    # The whole-degree sweep runs at half that size again: a quarter of the pixels to turn,
    # and lines are still lines there; the fine steps need the full search size.
    coarse = ink.resize((max(1, ink.width // 2), max(1, ink.height // 2)), Image.Resampling.BOX)

    def sharpness(image: Image.Image, angle: float, scores: dict[float, int]) -> int:
        angle = round(angle, 2)
        if angle not in scores:
            turned = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0)
            rows = turned.resize((1, turned.height), Image.Resampling.BOX).tobytes()
            scores[angle] = sum((a - b) ** 2 for a, b in zip(rows, rows[1:], strict=False))
        return scores[angle]

    rough: dict[float, int] = {}
    best = max(
        (float(a) for a in range(-SKEW_MAX_DEGREES, SKEW_MAX_DEGREES + 1)), key=lambda a: sharpness(coarse, a, rough)
    )
    fine: dict[float, int] = {}
    for step in (0.25, 0.05):
        best = max((best + i * step for i in range(-4, 5)), key=lambda a: sharpness(ink, a, fine))
    level = sharpness(ink, 0.0, fine)
    # No clearly sharper angle (a photo, a blank page, one line of text): leave the page be.
    if level == 0 or sharpness(ink, best, fine) < level * 1.1:
        return 0.0
    return round(-best, 2)


def _tesseract(image: Image.Image, *, languages: str, timeout: int) -> tuple[str, float]:
    try:
        data = pytesseract.image_to_data(
            image, lang=languages, config="--psm 3", output_type=pytesseract.Output.DICT, timeout=timeout
        )
    except RuntimeError as exc:  # pytesseract's timeout
        if "timeout" in str(exc).lower():
            raise OcrFailed(f"a page took longer than {timeout} seconds to read") from None
        raise
    except pytesseract.TesseractNotFoundError:
        raise OcrFailed(f"tesseract is not installed on this server ({INSTALL_HINT})") from None
    except pytesseract.TesseractError as exc:
        raise OcrFailed(f"tesseract could not read the page: {exc.message[:200]}") from None
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences = []
    for i, word in enumerate(data["text"]):
        if not word.strip():
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(word)
        confidence = float(data["conf"][i])
        if confidence >= 0:
            confidences.append(confidence)
    text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return text, mean


def image_ocr(image: Image.Image, *, languages: str, limits: Limits, number: int = 1, deskew: bool = True) -> PageText:
    """OCR one page: grey, upright, level, scaled; binarised too when the first pass was unsure.

    ``deskew=False`` leaves out the small-angle deskew (quarter turns are still fixed): only
    for bench/ocr.py's comparison.
    """
    grey = _deskewed(_grey(image), timeout=limits.seconds_per_page, small_angles=deskew)
    text, confidence = _tesseract(grey, languages=languages, timeout=limits.seconds_per_page)
    if confidence < RETRY_BELOW_CONFIDENCE:
        other_text, other_confidence = _tesseract(
            _binarised(grey), languages=languages, timeout=limits.seconds_per_page
        )
        if other_confidence > confidence:
            text, confidence = other_text, other_confidence
    return PageText(number=number, text=text, method="ocr", confidence=confidence)


def pdf_page_count(data: bytes) -> int:
    reader = _pdf_reader(data)
    return len(reader.pages)


def _pdf_reader(data: bytes):
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
    except (PdfReadError, ValueError, OSError) as exc:
        raise OcrFailed(f"the PDF is corrupt ({exc.__class__.__name__})") from None
    if reader.is_encrypted:
        # An owner-password-only PDF opens with an empty user password; anything else we cannot read.
        try:
            if not reader.decrypt(""):
                raise OcrFailed("the PDF is password-protected")
        except OcrFailed:
            raise
        except Exception:
            raise OcrFailed("the PDF is password-protected") from None
    return reader


def pdf_pages(data: bytes, *, languages: str, limits: Limits) -> Iterator[PageText]:
    """Each page's text: the text layer when it has one, otherwise rendered with pdftoppm and OCR'd."""
    reader = _pdf_reader(data)
    try:
        count = len(reader.pages)
    except Exception:
        raise OcrFailed("the PDF is corrupt (its page tree cannot be read)") from None
    if count == 0:
        raise OcrFailed("the PDF has no pages")
    if count > limits.max_pages:
        raise OcrFailed(f"the PDF has {count} pages; at most {limits.max_pages} are read")
    with tempfile.TemporaryDirectory(prefix="bzm-pdf-") as tmp:
        path = Path(tmp) / "in.pdf"
        path.write_bytes(data)
        for index, page in enumerate(reader.pages):
            number = index + 1
            try:
                layer = (page.extract_text() or "").strip()
            except Exception:  # a broken content stream: the rendered page may still be readable
                layer = ""
            if len(layer) >= MIN_TEXT_LAYER_CHARS:
                yield PageText(number=number, text=layer, method="text_layer", confidence=100.0)
                continue
            image = _render_page(path, number, limits=limits)
            yield image_ocr(image, languages=languages, limits=limits, number=number)


def _render_page(path: Path, number: int, *, limits: Limits) -> Image.Image:
    if shutil.which("pdftoppm") is None:
        raise OcrFailed(f"poppler's pdftoppm is not installed on this server ({INSTALL_HINT})")
    out = path.with_name(f"page-{number}")
    try:
        subprocess.run(
            ["pdftoppm", "-f", str(number), "-l", str(number), "-r", str(RENDER_DPI), "-gray", "-png", "-singlefile"]
            + [str(path), str(out)],
            check=True,
            capture_output=True,
            timeout=limits.seconds_per_page,
        )
    except subprocess.TimeoutExpired:
        raise OcrFailed(f"page {number} took longer than {limits.seconds_per_page} seconds to render") from None
    except subprocess.CalledProcessError as exc:
        raise OcrFailed(f"page {number} could not be rendered: {exc.stderr.decode(errors='replace')[:200]}") from None
    return image_open(out.with_suffix(".png").read_bytes(), limits=limits)


def document_read(
    data: bytes,
    *,
    mime_type: str,
    languages: str,
    limits: Limits,
    on_page: Callable[[PageText, int], None] | None = None,
) -> list[PageText]:
    """All pages of an image or PDF; ``on_page(page, total)`` after each one (progress)."""
    tools_check(languages)
    if mime_type == "application/pdf":
        total = pdf_page_count(data)
        pages = []
        for page in pdf_pages(data, languages=languages, limits=limits):
            pages.append(page)
            if on_page:
                on_page(page, total)
        return pages
    if mime_type.startswith("image/"):
        page = image_ocr(image_open(data, limits=limits), languages=languages, limits=limits)
        if on_page:
            on_page(page, 1)
        return [page]
    raise OcrFailed(f"files of type {mime_type or 'unknown'} are not read (only images and PDFs)")


def thumbnail(data: bytes, *, mime_type: str, limits: Limits, width: int = 320) -> bytes | None:
    """A small PNG of the image or of the PDF's first page, or None when there is none."""
    try:
        if mime_type.startswith("image/"):
            image = image_open(data, limits=limits)
        elif mime_type == "application/pdf":
            with tempfile.TemporaryDirectory(prefix="bzm-thumb-") as tmp:
                path = Path(tmp) / "in.pdf"
                path.write_bytes(data)
                image = _render_page(path, 1, limits=limits)
        else:
            return None
    except OcrFailed:
        return None
    image = image.convert("RGB")
    image.thumbnail((width, width * 2))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
