"""Server-generated identifiers: template keys and button/list-row payload ids.

Random rather than derived from titles, so renaming a button never changes the id that
old menus still on customers' phones send back. 36^8 (about 2.8e12) values per prefix;
unique constraints catch the practically impossible collision.
"""

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits

TEMPLATE_KEY_PREFIX = "tmpl_"
BUTTON_ID_PREFIX = "btn_"
ROW_ID_PREFIX = "row_"


def _random(length: int = 8) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def template_key_new() -> str:
    """``tmpl_<8 random>``: a template's stable, tenant-unique key."""
    return f"{TEMPLATE_KEY_PREFIX}{_random()}"


def button_payload_id_new() -> str:
    """``btn_<10 random>``: the reply id WhatsApp sends back when the button is tapped."""
    return f"{BUTTON_ID_PREFIX}{_random(10)}"


def row_payload_id_new() -> str:
    """``row_<10 random>``: the reply id WhatsApp sends back when the list row is picked."""
    return f"{ROW_ID_PREFIX}{_random(10)}"
