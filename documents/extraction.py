"""Fields read from a document's text: emails, phones, dates, amounts, invoice/order numbers,
GSTIN, PAN, and a guess at what kind of document it is, with a validation verdict.

Pure functions over text (no database), so they are tested directly on strings as well as
through real OCR. Identity numbers (Aadhaar) are masked by :func:`identity_mask` before
anything else sees the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

import phonenumbers

# -- identity numbers -------------------------------------------------------------------------

# Verhoeff tables (UIDAI's check digit for Aadhaar).
_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def verhoeff_valid(digits: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(digits)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


_AADHAAR_SPACED = re.compile(r"(?<![\dX])([2-9]\d{3})[ \-](\d{4})[ \-](\d{4})(?!\d)")
_AADHAAR_PLAIN = re.compile(r"(?<![\dX])([2-9]\d{11})(?!\d)")


def identity_mask(text: str) -> tuple[str, list[str]]:
    """Text with Aadhaar-like numbers masked to ``XXXX XXXX 1234``, and the masked values.

    The 4-4-4 printed form is masked whatever its check digit (OCR misreads one digit easily,
    and keeping a near-Aadhaar in full is the worse mistake); twelve digits in a row only
    when the Verhoeff check passes, so a phone number with its 91 prefix is left alone.
    """
    found: list[str] = []

    def spaced(match: re.Match) -> str:
        masked = f"XXXX XXXX {match.group(3)}"
        found.append(masked)
        return masked

    def plain(match: re.Match) -> str:
        digits = match.group(1)
        if not verhoeff_valid(digits):
            return digits
        masked = f"XXXX XXXX {digits[-4:]}"
        found.append(masked)
        return masked

    text = _AADHAAR_SPACED.sub(spaced, text)
    return _AADHAAR_PLAIN.sub(plain, text), found


# -- GSTIN and PAN ----------------------------------------------------------------------------

_GSTIN_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_GSTIN = re.compile(r"\b(\d{2}[A-Z]{5}\d{4}[A-Z][1-9A-Z]Z[0-9A-Z])\b")
_PAN = re.compile(r"\b([A-Z]{5}\d{4}[A-Z])\b")
# The fourth letter of a PAN says who holds it (P person, C company, H HUF, F firm, ...).
_PAN_HOLDER_TYPES = set("PCHFATBLJG")


def gstin_check_char(first14: str) -> str:
    """The GSTIN's 15th character: a base-36 Luhn-style sum of the first 14."""
    total = 0
    for i, char in enumerate(first14):
        product = _GSTIN_CHARS.index(char) * (2 if i % 2 else 1)
        total += product // 36 + product % 36
    return _GSTIN_CHARS[(36 - total % 36) % 36]


def gstin_valid(gstin: str) -> bool:
    if not re.fullmatch(r"\d{2}[A-Z]{5}\d{4}[A-Z][1-9A-Z]Z[0-9A-Z]", gstin):
        return False
    state = int(gstin[:2])
    if not (1 <= state <= 38 or state in (97, 99)):  # state codes, 97 other territory, 99 centre
        return False
    return gstin_check_char(gstin[:14]) == gstin[14]


# OCR confuses these; which one is right follows from the position (digit or letter).
_TO_DIGIT = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6"})
_TO_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G"})
_GSTIN_SHAPE = "DDLLLLLDDDDLAZA"  # D digit, L letter, A either, Z the letter Z
_PAN_SHAPE = "LLLLLDDDDL"
_SPACED_TOKEN = {
    15: re.compile(r"(?<![0-9A-Z])[0-9A-Z](?: ?[0-9A-Z]){14}(?![0-9A-Z])"),
    10: re.compile(r"(?<![0-9A-Z])[0-9A-Z](?: ?[0-9A-Z]){9}(?![0-9A-Z])"),
}


def _repaired(token: str, shape: str) -> str:
    out = []
    for char, kind in zip(token, shape, strict=True):
        if kind == "D":
            char = char.translate(_TO_DIGIT)
        elif kind == "L":
            char = char.translate(_TO_LETTER)
        elif kind == "Z" and char == "2":
            char = "Z"
        out.append(char)
    return "".join(out)


def ocr_tolerant_ids(line: str) -> list[tuple[str, str, bool]]:
    """(name, value, repaired) for GSTINs and PANs on a line, read through OCR's usual slips.

    A token that needed repair (a stray space, O for 0) is kept only when the repair gives a
    GSTIN whose checksum holds or a well-formed PAN, so a repair cannot turn noise into an
    ID. An exact-format match is kept as read: a wrong checksum is reported, never fixed.
    """
    upper = line.upper()
    found: list[tuple[str, str, bool]] = []
    for name, shape, exact, check in (
        ("gstin", _GSTIN_SHAPE, _GSTIN, gstin_valid),
        ("pan", _PAN_SHAPE, _PAN, pan_valid),
    ):
        exact_values = [match.group(1) for match in exact.finditer(upper)]
        found.extend((name, value, False) for value in exact_values)
        for match in _SPACED_TOKEN[len(shape)].finditer(upper):
            token = match.group(0).replace(" ", "")
            if token in exact_values:
                continue
            candidate = _repaired(token, shape)
            if check(candidate):
                found.append((name, candidate, True))
    return found


def pan_valid(pan: str) -> bool:
    return bool(re.fullmatch(r"[A-Z]{5}\d{4}[A-Z]", pan)) and pan[3] in _PAN_HOLDER_TYPES


# -- amounts ----------------------------------------------------------------------------------

_CURRENCY_WORDS = {
    "₹": "INR",
    "rs": "INR",
    "rs.": "INR",
    "inr": "INR",
    "$": "USD",
    "usd": "USD",
    "€": "EUR",
    "eur": "EUR",
}
_NUMBER = r"(?P<num>\d{1,3}(?:,\d{2,3})+|\d+)(?:\.(?P<dec>\d{1,2}))?(?!\d)"
_AMOUNT_AFTER_CURRENCY = re.compile(r"(?P<cur>₹|\bRs\.?|\bINR|\$|\bUSD|€|\bEUR)\s*" + _NUMBER, re.IGNORECASE)
# "2500 INR", but not the "10" of "Steel rods 10 Rs. 1,00,000" (a quantity before a price).
_AMOUNT_BEFORE_CURRENCY = re.compile(
    r"(?<![\d.,])" + _NUMBER + r"\s*(?P<cur>₹|INR|Rs\b|€|EUR|USD)(?!\.?\s*\d)", re.IGNORECASE
)
_TOTAL_LINE = re.compile(
    r"\b(grand\s+total|total\s+amount|amount\s+due|amount\s+paid|net\s+payable|balance\s+due|total|amount|paid)\b",
    re.IGNORECASE,
)
_BARE_AMOUNT = re.compile(r"(?<![\w.,/-])" + _NUMBER + r"(?![\w/-])")


def _amount_value(match: re.Match) -> Decimal | None:
    number = match.group("num")
    groups = number.split(",")
    # 1,25,000 (Indian: last group of three, others of two) or 125,000 (groups of three).
    if len(groups) > 1:
        indian = all(len(g) == 2 for g in groups[1:-1]) and len(groups[-1]) == 3
        western = all(len(g) == 3 for g in groups[1:])
        if not (indian or western):
            if len(groups) == 2 and len(groups[1]) == 2 and not match.group("dec"):
                return Decimal(f"{groups[0]}.{groups[1]}")  # 45,50: a decimal comma (euro amounts)
            return None
    try:
        return Decimal(number.replace(",", "") + "." + (match.group("dec") or "00").ljust(2, "0"))
    except InvalidOperation:
        return None


# -- dates ------------------------------------------------------------------------------------

_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DATE_NUMERIC = re.compile(r"(?<![\d/.-])(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?![\d/.-])")
_DATE_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_DATE_DAY_MONTH = re.compile(
    r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?[\s\-]+(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?[\s,\-]+(\d{4}|\d{2})(?!\d)",
    re.IGNORECASE,
)
_DATE_MONTH_DAY = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)",
    re.IGNORECASE,
)
_DATE_LINE = re.compile(r"\b(invoice\s+date|bill\s+date|date|dated|dt)\b", re.IGNORECASE)


def _year(value: str) -> int:
    year = int(value)
    return year + 2000 if year < 100 else year


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dates_in(line: str, *, date_order: str) -> list[tuple[date, int]]:
    found: list[tuple[date, int]] = []
    for match in _DATE_ISO.finditer(line):
        value = _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        if value:
            found.append((value, match.start()))
    for match in _DATE_NUMERIC.finditer(line):
        a, b, year = int(match.group(1)), int(match.group(2)), _year(match.group(3))
        day, month = (b, a) if date_order == "MDY" else (a, b)
        value = _safe_date(year, month, day) or _safe_date(year, day, month)  # 13/05 read either way
        if value:
            found.append((value, match.start()))
    for match in _DATE_DAY_MONTH.finditer(line):
        value = _safe_date(_year(match.group(3)), _MONTHS[match.group(2)[:3].lower()], int(match.group(1)))
        if value:
            found.append((value, match.start()))
    for match in _DATE_MONTH_DAY.finditer(line):
        value = _safe_date(int(match.group(3)), _MONTHS[match.group(1)[:3].lower()], int(match.group(2)))
        if value:
            found.append((value, match.start()))
    return sorted(found, key=lambda f: f[1])


# -- numbers and names ------------------------------------------------------------------------

_INVOICE_NUMBER = re.compile(
    r"\b(?:invoice|inv|bill)\s*(?:no|number|num|#)?\s*[.:#\-]*\s*(?P<v>[A-Z0-9][A-Z0-9\-/]{2,30})", re.IGNORECASE
)
_ORDER_NUMBER = re.compile(
    r"\border\s*(?:id|no|number|#)?\s*[.:#\-]*\s*(?P<v>[A-Z0-9][A-Z0-9\-/]{2,30})", re.IGNORECASE
)
_TRANSACTION = re.compile(
    r"\b(?:UPI\s+transaction\s+ID|UPI\s+Ref(?:erence)?\s*(?:No)?|UTR(?:\s+No)?|Transaction\s+ID|Txn\s+ID)\s*[.:#\-]*\s*(?P<v>[A-Z0-9]{8,30})",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_NAME = re.compile(
    r"\b(?:name|bill\s+to|billed\s+to|customer|paid\s+to|sold\s+to)\s*[:\-]\s*(?P<v>[A-Za-z][A-Za-z .']{1,60})",
    re.IGNORECASE,
)

_KIND_WORDS = {
    "invoice": ["tax invoice", "invoice", "gstin", "bill to", "hsn", "invoice no"],
    "receipt": ["receipt", "received with thanks", "cash memo", "payment received", "thank you for your purchase"],
    "id": [
        "aadhaar",
        "government of india",
        "income tax department",
        "permanent account number",
        "date of birth",
        "dob",
        "driving licence",
        "passport",
        "election commission",
        "आधार",
    ],
    "payment": [
        "upi",
        "transaction id",
        "utr",
        "paid to",
        "payment successful",
        "google pay",
        "phonepe",
        "paytm",
        "debited",
        "money sent",
    ],
}


@dataclass
class Field:
    name: str
    value: str
    confidence: float
    page: int
    snippet: str
    valid: bool | None = None


@dataclass
class Extraction:
    fields: list[Field] = field(default_factory=list)
    kind: str = "other"
    validation: str = "needs_review"
    reasons: list[str] = field(default_factory=list)

    def first(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def _snippet(line: str) -> str:
    return line.strip()[:255]


def extract(
    pages: list[tuple[str, float]],
    *,
    date_order: str = "DMY",
    region: str = "IN",
    default_currency: str = "INR",
    today: date | None = None,
) -> Extraction:
    """Fields from ``pages`` (already masked text, OCR confidence 0-100), best candidate first."""
    today = today or date.today()
    result = Extraction()
    amounts: list[tuple[float, Field, Field]] = []
    dates: list[Field] = []
    seen: set[tuple[str, str]] = set()

    def add(item: Field) -> None:
        if (item.name, item.value) not in seen:
            seen.add((item.name, item.value))
            result.fields.append(item)

    for number, (text, ocr_confidence) in enumerate(pages, start=1):
        trust = max(0.3, min(1.0, ocr_confidence / 100.0))
        for line in text.splitlines():
            if not line.strip():
                continue
            snippet = _snippet(line)
            for match in _EMAIL.finditer(line):
                add(Field("email", match.group(0).lower().strip("."), round(0.95 * trust, 2), number, snippet, True))
            for name, value, repaired in ocr_tolerant_ids(line):
                if name == "pan" and any(value in f.value for f in result.fields if f.name == "gstin"):
                    continue  # the PAN inside a GSTIN is not a separate PAN on the page
                weight = (0.8 if repaired else 0.95) if name == "gstin" else (0.75 if repaired else 0.9)
                valid = gstin_valid(value) if name == "gstin" else pan_valid(value)
                add(Field(name, value, round(weight * trust, 2), number, snippet, valid))
            for pattern, name in (
                (_INVOICE_NUMBER, "invoice_number"),
                (_ORDER_NUMBER, "order_number"),
                (_TRANSACTION, "transaction_id"),
            ):
                for match in pattern.finditer(line):
                    value = match.group("v").strip("-/").upper()
                    if any(ch.isdigit() for ch in value):
                        add(Field(name, value, round(0.9 * trust, 2), number, snippet))
            for match in _NAME.finditer(line):
                value = " ".join(match.group("v").split()).strip(" .")
                if len(value) >= 2:
                    add(
                        Field(
                            "name", value.title() if value.isupper() else value, round(0.6 * trust, 2), number, snippet
                        )
                    )
            labelled_date = bool(_DATE_LINE.search(line))
            for value, _ in _dates_in(line, date_order=date_order):
                weight = 0.9 if labelled_date else 0.7
                dates.append(
                    Field("date", value.isoformat(), round(weight * trust, 2), number, snippet, value <= today)
                )
            total_line = _TOTAL_LINE.search(line)
            found_amount = False
            for pattern in (_AMOUNT_AFTER_CURRENCY, _AMOUNT_BEFORE_CURRENCY):
                for match in pattern.finditer(line):
                    value = _amount_value(match)
                    if value is None:
                        continue
                    found_amount = True
                    currency = _CURRENCY_WORDS.get(match.group("cur").lower(), default_currency)
                    score = (2.0 if total_line else 1.0) + (
                        0.5 if total_line and "grand" in total_line.group(0).lower() else 0
                    )
                    amounts.append(
                        (
                            score,
                            Field(
                                "amount",
                                f"{value:.2f}",
                                round((0.9 if total_line else 0.7) * trust, 2),
                                number,
                                snippet,
                            ),
                            Field("currency", currency, round(0.9 * trust, 2), number, snippet),
                        )
                    )
            if total_line and not found_amount:
                # "Total: 12,400.00" with the symbol lost (OCR often drops ₹): the tenant's currency.
                for match in _BARE_AMOUNT.finditer(line[total_line.end() :]):
                    value = _amount_value(match)
                    if value is not None and "." in match.group(0):
                        amounts.append(
                            (
                                1.5,
                                Field("amount", f"{value:.2f}", round(0.6 * trust, 2), number, snippet),
                                Field("currency", default_currency, round(0.4 * trust, 2), number, snippet),
                            )
                        )
        phones = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
        for match in phones:
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            line = text[
                text.rfind("\n", 0, match.start) + 1 : text.find("\n", match.end)
                if "\n" in text[match.end :]
                else len(text)
            ]
            add(Field("phone", e164, round(0.85 * trust, 2), number, _snippet(line), True))

    if amounts:
        # The total: the best-scored line, and among equals the largest (a total is the sum of lines).
        best = max(amounts, key=lambda a: (a[0], Decimal(a[1].value)))
        add(best[1])
        add(best[2])
        for _, amount, _currency in sorted(amounts, key=lambda a: -Decimal(a[1].value)):
            if amount.value != best[1].value:
                add(Field("amount_other", amount.value, amount.confidence * 0.5, amount.page, amount.snippet))
    if dates:
        dates.sort(key=lambda f: -f.confidence)
        add(dates[0])
        for other in dates[1:]:
            add(Field("date_other", other.value, other.confidence * 0.5, other.page, other.snippet, other.valid))

    full_text = "\n".join(text for text, _ in pages)
    result.kind = kind_guess(full_text)
    result.validation, result.reasons = _validate(result, pages=pages)
    return result


def kind_guess(text: str) -> str:
    lowered = text.lower()
    scores = {kind: sum(lowered.count(word) for word in words) for kind, words in _KIND_WORDS.items()}
    if "xxxx xxxx" in lowered:
        scores["id"] += 2
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else "other"


def _validate(result: Extraction, *, pages: list[tuple[str, float]]) -> tuple[str, list[str]]:
    invalid: list[str] = []
    review: list[str] = []
    if not any(text.strip() for text, _ in pages):
        return "needs_review", ["no text was found in the document"]
    for item in result.fields:
        if item.name == "gstin" and item.valid is False:
            invalid.append(f"GSTIN {item.value} fails its checksum")
        elif item.name == "pan" and item.valid is False:
            invalid.append(f"PAN {item.value} has an unknown holder type ({item.value[3]})")
        elif item.name == "date" and item.valid is False:
            review.append(f"the date {item.value} is in the future")
    low = [str(number) for number, (text, confidence) in enumerate(pages, start=1) if text.strip() and confidence < 60]
    if low:
        review.append(f"the text of page(s) {', '.join(low)} was hard to read")
    if result.kind in ("invoice", "receipt"):
        for name, label in (("amount", "amount"), ("date", "date")):
            if result.first(name) is None:
                review.append(f"no {label} was found on this {result.kind}")
        if result.kind == "invoice" and result.first("invoice_number") is None:
            review.append("no invoice number was found")
    if invalid:
        return "invalid", invalid + review
    if review:
        return "needs_review", review
    return "valid", []
