"""Pieces every leads service shares: who is acting, and input normalisation."""

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bizmitra.actors import actor_split
from bizmitra.phones import phone_e164

FIELD_MAX_LENGTHS = {"name": 200, "location": 200, "product_interest": 255}


class FieldError(ValueError):
    """One input value that cannot be stored, with the reason shown to the user."""


# The leads' name for the one actor reader (bizmitra.actors): (user or None, audit label).
actor_resolve = actor_split


def normalise_email(value) -> str:
    email = str(value).strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise FieldError(f"'{value}' is not a valid email address.") from exc
    return email


def normalise_phone(value, *, region: str) -> str:
    """E.164 form of a phone number a person typed; ``region`` applies when no +country code is given."""
    try:
        return phone_e164(value, region=region)
    except ValueError as exc:
        raise FieldError(str(exc)) from exc


def normalise_text(value, *, field: str) -> str:
    text = " ".join(str(value).split())
    limit = FIELD_MAX_LENGTHS.get(field)
    if limit and len(text) > limit:
        raise FieldError(f"At most {limit} characters.")
    return text


def normalise_datetime(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = parse_datetime(str(value))
        if parsed is None:
            raise FieldError(f"'{value}' is not a date and time (use ISO 8601, e.g. 2026-03-01T10:00:00+05:30).")
    if timezone.is_naive(parsed):
        raise FieldError("Give a time zone offset (e.g. +05:30 or Z).")
    return parsed
