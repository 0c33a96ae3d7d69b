"""Field validators shared by the models, the API and the services."""

import re

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
