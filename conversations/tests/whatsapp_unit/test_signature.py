"""Tests for X-Hub-Signature-256 verification (FACTS.md §1.2)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from conversations.tests.whatsapp_unit.fixtures import fixture_bytes
from conversations.whatsapp.signature import compute_signature, signature_matches

# HMAC-SHA256(key="secret", msg="test"), the vector in FACTS.md §1.2.
VECTOR = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"


def test_compute_signature_matches_the_facts_test_vector() -> None:
    assert compute_signature("secret", b"test") == VECTOR


def test_compute_signature_is_lowercase_hex_over_raw_bytes() -> None:
    body = fixture_bytes("message__text")
    expected = hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert compute_signature("app-secret", body) == f"sha256={expected}"


def test_valid_signature_matches() -> None:
    assert signature_matches(["secret"], b"test", VECTOR)


def test_any_of_several_secrets_matches() -> None:
    assert signature_matches(["old-secret", "secret", "other"], b"test", VECTOR)


def test_secrets_may_be_any_iterable() -> None:
    assert signature_matches(iter(("nope", "secret")), b"test", VECTOR)


def test_uppercase_hex_and_surrounding_whitespace_are_tolerated() -> None:
    header = "SHA256=" + VECTOR.removeprefix("sha256=").upper()
    assert signature_matches(["secret"], b"test", f"  {header} ")


def test_wrong_secret_does_not_match() -> None:
    assert not signature_matches(["not-the-secret"], b"test", VECTOR)


def test_tampered_body_does_not_match() -> None:
    assert not signature_matches(["secret"], b"test ", VECTOR)


def test_reserialised_json_does_not_match_the_raw_body() -> None:
    raw = b'{"name":"\\u00e4\\u00f6\\u00e5"}'
    header = compute_signature("secret", raw)
    assert not signature_matches(["secret"], '{"name":"äöå"}'.encode(), header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914",
        "sha1=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914",
        "sha256=zz29a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914",
        "sha256=0329a06b",
        "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914ä",
        12345,
    ],
)
def test_missing_or_garbled_header_is_rejected(header: object) -> None:
    assert not signature_matches(["secret"], b"test", header)  # type: ignore[arg-type]


def test_no_secrets_never_match() -> None:
    assert not signature_matches([], b"test", VECTOR)


def test_empty_secret_is_ignored_even_when_the_header_was_made_with_it() -> None:
    forged = compute_signature("", b"test")
    assert not signature_matches([""], b"test", forged)
