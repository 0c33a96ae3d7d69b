"""Field validators shared by the models, the API and the services."""

import re

import phonenumbers
from django.core.exceptions import ValidationError

TRIGGER_SLUG = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
# Meta template names: lowercase letters, digits and underscores (WA/templates).
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
# Meta's template language codes: "en", "en_US", "pt_BR", "zh_HK", "fil", ...
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2,4})?$")


def validate_trigger_slug(value: str) -> None:
    if not TRIGGER_SLUG.match(value or ""):
        raise ValidationError(
            "A trigger is a slug: lowercase letters, digits and underscores, starting with a letter, 2-64 characters."
        )


def validate_template_name(value: str) -> None:
    if value and not TEMPLATE_NAME.match(value):
        raise ValidationError("Meta template names use only lowercase letters, digits and underscores.")


def validate_language_code(value: str) -> None:
    if value and not LANGUAGE_CODE.match(value):
        raise ValidationError("Use Meta's template language code, e.g. 'en', 'en_US', 'hi'.")


def phone_normalize(raw: str) -> str:
    """``raw`` as E.164 (``+918143963821``), or ValueError with the reason.

    A number without ``+`` is read as already carrying its country code (the
    WhatsApp ``wa_id`` form client sites usually store, e.g. ``918143963821``);
    there is no default region to guess from.
    """
    candidate = (raw or "").strip()
    if not candidate:
        raise ValueError("A phone number is required.")
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    elif not candidate.startswith("+"):
        candidate = "+" + candidate
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{raw}' is not a phone number: {exc}.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"'{raw}' is not a valid phone number (give the country code, e.g. +91 81439 63821).")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
