"""Property tests of the webhook parser over Meta's payload shapes (issue 13 §4, hypothesis).

Whatever a signed POST carries inside a valid envelope: the parser never raises, every
message and status comes out either typed or rejected with a reason (none lost), and what
comes out is storable (no NUL, no lone surrogate, no non-finite number, bounded ids).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conversations.tests.whatsapp_unit.fixtures import FIXTURES_DIR
from conversations.whatsapp.parsing import (
    MAX_WA_ID_LENGTH,
    MAX_WAMID_LENGTH,
    InboundMessage,
    MalformedWebhook,
    StatusUpdate,
    parse_webhook,
)

# `make fuzz` raises the number of examples; `make test` keeps the bounded defaults.
MAX_EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "300"))
FIXTURES = [json.loads(path.read_text()) for path in sorted(FIXTURES_DIR.glob("*.json"))]
NOW = 1_750_000_000

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20),  # lone surrogates too
    st.sampled_from(
        ["", "\x00", "a\x00b", "\ud800", "x\udfffy", "1e400", "99999999999999", "-1", "wamid." + "w" * 300]
    ),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**20, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, nasty_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(nasty_text, children, max_size=4)),
    max_leaves=20,
)


def _field_value(name: str) -> st.SearchStrategy[Any]:
    return (
        st.one_of(json_values, nasty_text)
        if name not in ("type",)
        else st.one_of(
            st.sampled_from(["text", "image", "reaction", "location", "interactive", "system", "order", "weird"]),
            json_values,
        )
    )


@st.composite
def mutated_fixture(draw) -> dict[str, Any]:
    """One of Meta's documented bodies with some fields of its messages/statuses replaced."""
    payload = json.loads(json.dumps(draw(st.sampled_from(FIXTURES))))
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value", {})
            for key in ("messages", "statuses", "contacts"):
                for item in value.get(key, []) if isinstance(value.get(key), list) else []:
                    for name in draw(st.lists(st.sampled_from(sorted(item) + ["from", "id", "timestamp"]), max_size=3)):
                        item[name] = draw(_field_value(name))
            if draw(st.booleans()):
                value[draw(st.sampled_from(["messages", "statuses", "contacts", "metadata"]))] = draw(json_values)
    return payload


def _count(payload: dict[str, Any], key: str) -> int:
    total = 0
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            continue
        for change in entry["changes"]:
            if not isinstance(change, dict) or change.get("field") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            items = value.get(key)
            total += 0 if items is None else len(items) if isinstance(items, list) else 1
    return total


def _assert_storable(value: Any) -> None:
    text = json.dumps(value, allow_nan=False)  # raises on inf / nan
    assert "\\u0000" not in text
    text.encode("utf-8")  # raises on a lone surrogate


def _check(payload: dict[str, Any]) -> None:
    parsed = parse_webhook(payload, received_at=NOW)
    rejected = {kind: [r for r in parsed.rejected if r.kind == kind] for kind in ("message", "status")}
    assert len(parsed.messages) + len(rejected["message"]) == _count(payload, "messages")
    assert len(parsed.statuses) + len(rejected["status"]) == _count(payload, "statuses")
    for item in parsed.rejected:
        assert item.reason
        _assert_storable(item.raw)
    for message in parsed.messages:
        _assert_item(message)
        assert len(message.wamid) <= MAX_WAMID_LENGTH
        assert len(message.contact.wa_id or "") <= MAX_WA_ID_LENGTH
        for text in (message.text, message.contact.profile_name, message.payload_title):
            _assert_storable(text)
    for status in parsed.statuses:
        _assert_item(status)
    for change in parsed.other_changes:
        _assert_storable(change.raw)


def _assert_item(item: InboundMessage | StatusUpdate) -> None:
    _assert_storable(item.raw)
    assert 0 < item.timestamp <= NOW + 86_400
    assert math.isfinite(item.timestamp)


@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_fixture())
@example(json.loads(json.dumps(FIXTURES[0])))
def test_meta_shapes_with_hostile_fields_are_typed_or_rejected_and_always_storable(payload):
    _check(payload)


@settings(max_examples=max(MAX_EXAMPLES // 3, 1), deadline=None, database=None)
@given(json_values)
def test_any_json_inside_the_envelope_never_raises(value):
    _check({"object": "whatsapp_business_account", "entry": value})
    _check({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": value}]})
    _check(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    )


@settings(deadline=None, database=None)
@given(json_values)
def test_anything_that_is_not_the_envelope_is_malformed_or_parsed(value):
    try:
        parse_webhook(value)
    except MalformedWebhook as exc:
        assert exc.reason


def _message(**fields: Any) -> dict[str, Any]:
    message = {
        "from": "15551234567",
        "id": "wamid.P",
        "timestamp": "1749416400",
        "type": "text",
        "text": {"body": "hi"},
    }
    message.update(fields)
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": "1"},
                            "contacts": [{"wa_id": "15551234567", "profile": {"name": "A\x00B"}}],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }


def test_the_named_hostile_values():
    deep: Any = "bottom"
    for _ in range(500):
        deep = {"x": deep}
    for payload in (
        _message(text={"body": "a\x00b"}),
        _message(text={"body": "\ud800"}),
        _message(timestamp="99999999999999"),
        _message(timestamp=float("inf")),
        _message(timestamp=10**50),
        _message(id="wamid." + "x" * 300),
        _message(**{"from": "1" * 40}),
        _message(text={"body": "x" * 100_000}),
        _message(extra=deep),
    ):
        _check(payload)
    assert parse_webhook(_message(text={"body": "x" * 100_000})).messages[0].text == "x" * 100_000


def test_invalid_utf8_bytes_never_reach_the_parser_as_text():
    # json.loads refuses invalid UTF-8 (the view answers 400); encoded surrogates decode to
    # lone surrogates, which the parser replaces.
    body = b'{"object": "whatsapp_business_account", "entry": [], "x": "\xed\xa0\x80"}'
    _check(json.loads(body))
