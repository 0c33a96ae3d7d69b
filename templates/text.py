"""Text helpers shared by matching, rendering and validation (pure Python, no database).

Matching is case- and accent-insensitive: text is NFKD-decomposed, combining marks are
dropped and the rest casefolded, so "HÓLA", "Hola" and "hola" compare equal (and "ß"
equals "ss"). Keyword rules also ignore punctuation and repeated spaces: "Hi!!" equals "hi".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*|\d+)\s*\}\}")
"""A variable: ``{{first_name}}``, ``{{lead.city}}`` (a context path) or positional ``{{1}}``."""

REGEX_TEXT_MAX = 1024
# Patterns come from tenant staff and text from anyone on WhatsApp; stdlib ``re`` has no
# timeout, so regex rules see at most this much text to bound the cost of a bad pattern.


def fold(text: str) -> str:
    """Casefolded text without accents (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # casefold can produce new decomposable characters; normalise once more.
    return unicodedata.normalize("NFKD", stripped.casefold())


def normalise(text: str) -> str:
    """``fold`` plus punctuation and emoji turned into single spaces: the form keyword
    rules compare. Letters, digits and spacing marks (Devanagari vowel signs) are kept."""
    folded = fold(text)
    kept = [ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " " for ch in folded]
    return " ".join("".join(kept).split())


def keywords(pattern: str) -> list[str]:
    """The normalised, non-empty keywords of a comma-separated keyword pattern."""
    return [kw for kw in (normalise(part) for part in (pattern or "").split(",")) if kw]


def keyword_equals(text: str, pattern: str) -> bool:
    norm = normalise(text)
    return bool(norm) and norm in keywords(pattern)


def keyword_contains(text: str, pattern: str) -> bool:
    """True when one keyword appears as whole word(s) in the text."""
    padded = f" {normalise(text)} "
    return any(f" {kw} " in padded for kw in keywords(pattern))


def keyword_starts_with(text: str, pattern: str) -> bool:
    padded = f"{normalise(text)} "
    return any(padded.startswith(f"{kw} ") for kw in keywords(pattern))


@lru_cache(maxsize=512)
def compile_rule_regex(pattern: str) -> re.Pattern[str]:
    """Compile a regex rule; accents in the pattern are dropped like in the text.

    The pattern is not casefolded (that would turn ``\\D`` into ``\\d``); IGNORECASE
    covers case instead. Raises ``re.error`` for an invalid pattern.
    """
    decomposed = unicodedata.normalize("NFKD", pattern)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.compile(stripped, re.IGNORECASE)


def regex_error(pattern: str) -> str | None:
    """Why a regex rule pattern does not compile, or None when it does."""
    try:
        compile_rule_regex(pattern)
    except re.error as exc:
        return str(exc)
    return None


def regex_matches(text: str, pattern: str) -> bool:
    return compile_rule_regex(pattern).search(fold(text)[:REGEX_TEXT_MAX]) is not None


def variable_slots(text: str) -> list[str]:
    """The distinct variable slots of a text, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in VARIABLE.finditer(text or ""):
        seen.setdefault(match.group(1), None)
    return list(seen)


def substitute(text: str, resolve) -> str:
    """Replace every ``{{slot}}`` in ``text`` with ``resolve(slot)``."""
    return VARIABLE.sub(lambda m: resolve(m.group(1)), text or "")
