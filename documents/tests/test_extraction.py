"""Field extraction and validation over text (the OCR tests cover the same rules on pixels)."""

from datetime import date

import pytest

from documents.extraction import (
    extract,
    gstin_check_char,
    gstin_valid,
    identity_mask,
    kind_guess,
    pan_valid,
    verhoeff_valid,
)

TODAY = date(2026, 12, 6)


def values(text: str, **kwargs) -> dict[str, str]:
    best: dict[str, str] = {}
    for item in extract([(text, 95.0)], today=TODAY, **kwargs).fields:
        best.setdefault(item.name, item.value)
    return best


def test_gstin_checksum():
    assert gstin_check_char("27AAPFU0939F1Z") == "V"
    assert gstin_valid("27AAPFU0939F1ZV")
    assert not gstin_valid("27AAPFU0939F1ZW")  # last character changed
    assert not gstin_valid("40AAPFU0939F1ZV")  # no state 40


def test_gstin_with_a_bad_checksum_makes_the_document_invalid():
    found = extract(
        [("TAX INVOICE\nInvoice No: A-100\nDate: 01/12/2026\nGSTIN: 27AAPFU0939F1ZW\nTotal: Rs. 500", 95.0)],
        today=TODAY,
    )
    assert found.validation == "invalid"
    assert any("27AAPFU0939F1ZW fails its checksum" in reason for reason in found.reasons)
    gstin = found.first("gstin")
    assert gstin.valid is False and gstin.snippet == "GSTIN: 27AAPFU0939F1ZW"


def test_ocr_slips_in_a_gstin_are_repaired_only_when_the_checksum_then_holds():
    assert values("GSTIN: 27AAPFUO939F 1ZV")["gstin"] == "27AAPFU0939F1ZV"
    assert "gstin" not in values("GSTIN: 27AAPFUO939F 1ZW")  # a repair that fails the checksum is noise


def test_pan_rules():
    assert pan_valid("AAPFU0939F")
    assert not pan_valid("AAPXU0939F")  # X is no holder type
    found = extract([("PAN: ABCXE1234F", 95.0)], today=TODAY)
    assert found.first("pan").valid is False and found.validation == "invalid"
    assert values("Permanent Account Number ABCPE1234F")["pan"] == "ABCPE1234F"


def test_pan_inside_a_gstin_is_not_reported_twice():
    assert "pan" not in values("GSTIN 27AAPFU0939F1ZV")


def test_aadhaar_is_masked_to_its_last_four_digits():
    assert verhoeff_valid("234567890124") is True
    text, masked = identity_mask("Aadhaar: 2345 6789 0124\nVID 9999")
    assert text == "Aadhaar: XXXX XXXX 0124\nVID 9999" and masked == ["XXXX XXXX 0124"]
    text, _ = identity_mask("no. 234567890124 here")
    assert "234567890124" not in text and "XXXX XXXX 0124" in text
    # twelve digits that fail the check (a phone with its 91 prefix) stay
    assert identity_mask("call 919876543210")[0] == "call 919876543210"
    assert kind_guess(identity_mask("Government of India\nAadhaar 2345 6789 0124")[0]) == "id"


@pytest.mark.parametrize(
    "line,amount,currency",
    [
        ("Grand Total: ₹1,25,000.00", "125000.00", "INR"),
        ("Total Rs. 12,400", "12400.00", "INR"),
        ("Amount due INR 3,50,75,000.50", "35075000.50", "INR"),
        ("Total: $1,299.99", "1299.99", "USD"),
        ("Total € 45,50", "45.50", "EUR"),  # a decimal comma, not a grouping
        ("Total 12,400.00", "12400.00", "INR"),  # symbol lost by OCR: the tenant's currency
        ("Paid 2500 INR", "2500.00", "INR"),
    ],
)
def test_amounts(line, amount, currency):
    got = values(line)
    assert (got["amount"], got["currency"]) == (amount, currency)


def test_a_quantity_before_a_price_is_not_an_amount():
    found = extract([("Steel rods 10 Rs. 1,00,000.00", 95.0)], today=TODAY)
    assert [f.value for f in found.fields if f.name.startswith("amount")] == ["100000.00"]


def test_the_total_wins_over_line_items():
    got = values("Item Rs. 1,00,000.00\nGST Rs. 18,000.00\nGrand Total: Rs. 1,18,000.00")
    assert got["amount"] == "118000.00"
    assert got["amount_other"] == "100000.00"


@pytest.mark.parametrize(
    "text,expected,order",
    [
        ("Date: 03/12/2026", "2026-12-03", "DMY"),
        ("Date: 12/03/2026", "2026-12-03", "MDY"),
        ("Date: 03-12-26", "2026-12-03", "DMY"),
        ("Dated 3 Dec 2026", "2026-12-03", "DMY"),
        ("Invoice date: 3rd December, 2026", "2026-12-03", "DMY"),
        ("Date: Dec 3, 2026", "2026-12-03", "DMY"),
        ("Date 2026-12-03", "2026-12-03", "DMY"),
        ("Date: 25/11/2026", "2026-11-25", "MDY"),  # no 25th month: read the other way
    ],
)
def test_dates(text, expected, order):
    assert values(text, date_order=order)["date"] == expected


def test_future_date_needs_review():
    found = extract([("Receipt\nDate: 01/01/2030\nTotal Rs. 100", 95.0)], today=TODAY)
    assert found.validation == "needs_review"
    assert "the date 2030-01-01 is in the future" in found.reasons


def test_emails_phones_and_numbers():
    got = values(
        "Invoice #: SH/2026/77\nOrder ID: OD-55501\nContact: Asha.Rao@Example.COM, +91 98765 43210\n"
        "UPI transaction ID: 401234567890"
    )
    assert got["invoice_number"] == "SH/2026/77"
    assert got["order_number"] == "OD-55501"
    assert got["email"] == "asha.rao@example.com"
    assert got["phone"] == "+919876543210"
    assert got["transaction_id"] == "401234567890"


def test_local_phone_numbers_are_normalised_to_e164_in_the_tenant_region():
    assert values("Call 098765 43210")["phone"] == "+919876543210"


@pytest.mark.parametrize(
    "text,kind",
    [
        ("TAX INVOICE\nGSTIN 27AAPFU0939F1ZV\nBill To: A", "invoice"),
        ("Cash Memo\nReceived with thanks", "receipt"),
        ("Payment successful\nPaid to Sharma Traders\nUPI transaction ID 401234567890", "payment"),
        ("INCOME TAX DEPARTMENT\nPermanent Account Number", "id"),
        ("hello there", "other"),
    ],
)
def test_kind_guess(text, kind):
    assert kind_guess(text) == kind


def test_invoice_missing_its_number_and_total_needs_review():
    found = extract([("TAX INVOICE\nGSTIN 27AAPFU0939F1ZV", 95.0)], today=TODAY)
    assert found.validation == "needs_review"
    assert "no invoice number was found" in found.reasons
    assert "no amount was found on this invoice" in found.reasons


def test_empty_text_needs_review():
    found = extract([("", 0.0)], today=TODAY)
    assert (found.validation, found.reasons) == ("needs_review", ["no text was found in the document"])


def test_each_field_says_where_it_was_found():
    found = extract([("first page", 90.0), ("Total: Rs. 99.00", 70.0)], today=TODAY)
    amount = found.first("amount")
    assert (amount.page, amount.snippet) == (2, "Total: Rs. 99.00")
    assert 0 < amount.confidence < 0.9  # page 2 was read with less confidence
