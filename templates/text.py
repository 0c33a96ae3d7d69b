"""Text helpers shared by matching, rendering and validation (pure Python, no database).

Matching is case- and accent-insensitive: text is NFKD-decomposed, combining marks are
dropped and the rest casefolded, so "HÓLA", "Hola" and "hola" compare equal (and "ß"
equals "ss"). Keyword rules also ignore punctuation and repeated spaces: "Hi!!" equals "hi".
"""

from __future__ import annotations

import re
import re._parser as _re_parser  # re's own parser, to look at a pattern's structure
import unicodedata
from functools import lru_cache

import re2

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*|\d+)\s*\}\}")
"""A variable: ``{{first_name}}``, ``{{lead.city}}`` (a context path) or positional ``{{1}}``."""

REGEX_TEXT_MAX = 1024
"""Regex rules see at most this much of a customer's text."""

REGEX_PATTERN_MAX = 500
"""Longest regex rule pattern staff may save."""

# Patterns come from tenant staff and text from anyone on WhatsApp, so regex rules run on
# RE2 (google-re2): matching is linear in the text whatever the pattern, so no pattern can
# hang a worker (stdlib ``re`` backtracks, and has no timeout). RE2 refuses the features
# that need backtracking (backreferences, lookaround), and compiling is capped in memory.
# Nested unbounded repetition such as ``(a+)+`` is harmless under RE2 but is refused too
# (safe-regex's "star height" rule): it is the classic catastrophic pattern, is never
# needed (``a+`` says the same), and a pattern copied elsewhere would hang there.
_RE2_MAX_MEM = 1 << 20
_UNBOUNDED = 4294967295  # sre's MAXREPEAT, what `+`, `*` and `{n,}` parse to


def fold(text: str) -> str:
    """Casefolded text without accents (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # casefold can produce new decomposable characters; normalise once more.
    return unicodedata.normalize("NFKD", stripped.casefold())


def normalise(text: str) -> str:
    """``fold`` plus punctuation and emoji turned into single spaces: the form keyword
    rules compare. Letters, digits and spacing marks (Devanagari vowel signs) are kept."""
    # Every text rule normalises the same customer text (and its own pattern) for each
    # message: short ones are cached (issue 9: a tenth of a rule decision's CPU before);
    # long ones are not, so a flood of long texts cannot fill memory.
    text = text or ""
    return _normalise_cached(text) if len(text) <= NORMALISE_CACHE_MAX_CHARS else _normalise(text)


NORMALISE_CACHE_MAX_CHARS = 200


@lru_cache(maxsize=4096)
def _normalise_cached(text: str) -> str:
    return _normalise(text)


def _normalise(text: str) -> str:
    folded = fold(text)
    kept = [ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " " for ch in folded]
    return " ".join("".join(kept).split())


@lru_cache(maxsize=1024)  # patterns are few and short (staff write them)
def keywords(pattern: str) -> tuple[str, ...]:
    """The normalised, non-empty keywords of a comma-separated keyword pattern."""
    return tuple(kw for kw in (normalise(part) for part in (pattern or "").split(",")) if kw)


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


class RegexRefused(ValueError):
    """A regex rule pattern that is not accepted; ``str()`` says why, for the person who wrote it."""


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    return options


_RE2_REASONS = (
    ("invalid escape sequence: \\", "uses a backreference such as \\1, which is not supported"),
    ("invalid perl operator: (?=", "uses lookahead (?=...), which is not supported"),
    ("invalid perl operator: (?!", "uses negative lookahead (?!...), which is not supported"),
    ("invalid perl operator: (?<", "uses lookbehind (?<=...) or (?<!...), which is not supported"),
    ("invalid repetition size", "repeats something more than 1000 times, which is not supported"),
    ("pattern too large", "expands to too much (large repetition counts nested); simplify it"),
)


def _star_height_problem(pattern: str) -> str | None:
    """Whether ``pattern`` repeats, without bound, something that itself repeats without bound."""
    try:
        tree = _re_parser.parse(pattern)
    except Exception:  # noqa: BLE001 - syntax is judged by RE2 below; this only looks for nesting
        return None

    def walk(items, inside_unbounded: bool) -> bool:
        for op, arg in items:
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, high, body = arg
                unbounded = high == _UNBOUNDED or high > 100
                if unbounded and inside_unbounded and _repeats_something(body):
                    return True
                if walk(body, inside_unbounded or unbounded):
                    return True
            elif name == "SUBPATTERN":
                if walk(arg[-1], inside_unbounded):
                    return True
            elif name == "BRANCH":
                if any(walk(branch, inside_unbounded) for branch in arg[1]):
                    return True
            elif name in ("ASSERT", "ASSERT_NOT"):
                if walk(arg[1], inside_unbounded):
                    return True
        return False

    if walk(tree, False):
        return (
            "repeats a group that itself repeats without bound, like (a+)+ or (\\w+\\s?)*, which can "
            "take exponentially long on some messages; repeat only once, as in a+"
        )
    return None


def _repeats_something(items) -> bool:
    # A nested repeat only makes the outer one ambiguous if it can match more than nothing.
    return any(str(op) not in ("AT",) for op, _ in items)


@lru_cache(maxsize=512)
def compile_rule_regex(pattern: str) -> re2._Regexp:
    """Compile a regex rule (RE2, case-insensitive); accents in the pattern are dropped like
    in the text.

    The pattern is not casefolded (that would turn ``\\D`` into ``\\d``); RE2's case folding
    covers case instead. Raises ``RegexRefused`` (with the reason) for a pattern that does
    not compile, uses backtracking-only features, or nests unbounded repetition.
    """
    decomposed = unicodedata.normalize("NFKD", pattern)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if len(stripped) > REGEX_PATTERN_MAX:
        raise RegexRefused(f"is longer than {REGEX_PATTERN_MAX} characters")
    try:
        compiled = re2.compile(stripped, _re2_options())
    except re2.error as exc:
        raise RegexRefused(_re2_reason(exc)) from None
    nested = _star_height_problem(stripped)
    if nested:
        raise RegexRefused(nested)
    return compiled


def _re2_reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for marker, reason in _RE2_REASONS:
        if marker in text:
            return reason
    return f"does not compile: {text}"


def regex_error(pattern: str) -> str | None:
    """Why a regex rule pattern is refused, as the end of "This regular expression ...", or None."""
    try:
        compile_rule_regex(pattern)
    except RegexRefused as exc:
        return str(exc)
    return None


def regex_matches(text: str, pattern: str) -> bool:
    """Whether a (valid) regex rule finds a match in the customer's ``text`` (linear time)."""
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
