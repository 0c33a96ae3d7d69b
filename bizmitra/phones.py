"""Phone numbers as people type them, to E.164, in one place (the ``phonenumbers`` library).

The outbound wire check (``bizmitra.graph_api.payloads.normalize_recipient``)
is a different thing on purpose: it checks shape only, because Meta, not the library's
country metadata, decides what is on WhatsApp (its 555 test numbers fail the library).
"""

from __future__ import annotations

import phonenumbers


def phone_e164(raw: str, *, region: str | None = None) -> str:
    """``raw`` as E.164 (``+918143963821``), or ValueError saying why.

    ``region`` (ISO code, e.g. "IN") reads a number given without its country code; without
    one, a number without ``+`` is read as already carrying its country code (the WhatsApp
    ``wa_id`` form, ``918143963821``) and ``00`` counts as ``+``.
    """
    candidate = str(raw or "").strip()
    if not candidate:
        raise ValueError("A phone number is required.")
    if not region:
        if candidate.startswith("00"):
            candidate = "+" + candidate[2:]
        elif not candidate.startswith("+"):
            candidate = "+" + candidate
    try:
        number = phonenumbers.parse(candidate, region.upper() if region else None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{raw}' is not a phone number: {exc}.") from None
    if not phonenumbers.is_valid_number(number):
        where = (
            f"for {region.upper()} or with its country code"
            if region
            else "(give the country code, e.g. +91 81439 63821)"
        )
        raise ValueError(f"'{raw}' is not a valid phone number {where}.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
