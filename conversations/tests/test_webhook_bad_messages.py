"""One bad message never sinks its batch (issue 13 §0): signed batches through the webhook and ingest."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django_tenants.utils import schema_context

from conversations.models import Contact, Message
from conversations.services.inbound import inbound_parts_route
from conversations.tests.inbound_support import (
    contact,
    envelope,
    post_webhook,
    text_message,
    unique_wa_id,
    unique_wamid,
)
from conversations.whatsapp import ingest
from conversations.whatsapp.models import UnroutedEvent, WebhookDelivery
from tests.tenancy import ALPHA


def _deliver(body: bytes) -> WebhookDelivery:
    """POST ``body`` signed, then process the stored delivery as the worker does."""
    response = post_webhook(body)
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.latest("id")
    assert ingest.delivery_process(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def _batch(bad: dict, *, wa_id: str, bad_contact: dict | None = None) -> tuple[bytes, list[str]]:
    good = [text_message(wa_id, "first good"), text_message(wa_id, "second good")]
    contacts = [contact(wa_id)] + ([bad_contact] if bad_contact else [])
    body = json.dumps(envelope(contacts=contacts, messages=[good[0], bad, good[1]])).encode()
    return body, [m["id"] for m in good]


def _stored(wamids: list[str]) -> dict[str, Message]:
    with schema_context(ALPHA["schema_name"]):
        return {m.wamid: m for m in Message.objects.filter(wamid__in=wamids).select_related("conversation__contact")}


def _raw(body: str) -> bytes:
    # json.dumps would escape a lone surrogate the same way; written out so the test reads as Meta's bytes.
    return body.encode()


class TestCleanedMessagesAreStored:
    def test_nul_in_the_text_is_removed(self, db, tenants_setup):
        wa_id = unique_wa_id()
        bad = text_message(wa_id, "a\u0000b")
        body, good = _batch(bad, wa_id=wa_id)
        delivery = _deliver(body)
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        stored = _stored([*good, bad["id"]])
        assert set(stored) == {*good, bad["id"]}
        assert stored[bad["id"]].body == "ab"
        assert "\u0000" not in json.dumps(stored[bad["id"]].payload)
        note = UnroutedEvent.objects.get(delivery=delivery, kind=UnroutedEvent.Kind.CLEANED)
        assert "NUL" in note.reason and note.payload["wamid"] == bad["id"]

    def test_nul_in_the_profile_name_is_removed(self, db, tenants_setup):
        wa_id, other = unique_wa_id(), unique_wa_id()
        bad = text_message(other, "hello")
        body, good = _batch(bad, wa_id=wa_id, bad_contact=contact(other, "Ra\u0000vi"))
        delivery = _deliver(body)
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        stored = _stored([*good, bad["id"]])
        assert set(stored) == {*good, bad["id"]}
        with schema_context(ALPHA["schema_name"]):
            assert Contact.objects.get(wa_id=other).profile_name == "Ravi"

    def test_a_lone_surrogate_is_replaced(self, db, tenants_setup):
        wa_id = unique_wa_id()
        bad = text_message(wa_id, "PLACEHOLDER")
        body, good = _batch(bad, wa_id=wa_id)
        body = body.replace(b"PLACEHOLDER", rb"broken \ud800 emoji")
        delivery = _deliver(body)
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        stored = _stored([*good, bad["id"]])
        assert stored[bad["id"]].body == "broken \ufffd emoji"
        assert set(stored) == {*good, bad["id"]}

    def test_an_impossible_timestamp_becomes_the_arrival_time(self, db, tenants_setup):
        wa_id = unique_wa_id()
        bad = text_message(wa_id, "from the future")
        bad["timestamp"] = "99999999999999"
        body, good = _batch(bad, wa_id=wa_id)
        delivery = _deliver(body)
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        stored = _stored([*good, bad["id"]])
        assert set(stored) == {*good, bad["id"]}
        assert abs((stored[bad["id"]].timestamp - delivery.received_at).total_seconds()) < 1
        note = UnroutedEvent.objects.get(delivery=delivery, kind=UnroutedEvent.Kind.CLEANED)
        assert "impossible timestamp" in note.reason and "99999999999999" in note.reason

    def test_a_number_too_large_for_a_double(self, db, tenants_setup):
        wa_id = unique_wa_id()
        bad = {
            "from": wa_id,
            "id": unique_wamid(),
            "timestamp": "PLACEHOLDER_TS",
            "type": "location",
            "location": {"latitude": "PLACEHOLDER_LAT", "longitude": 1.5},
        }
        body, good = _batch(bad, wa_id=wa_id)
        body = body.replace(b'"PLACEHOLDER_TS"', b"1e400").replace(b'"PLACEHOLDER_LAT"', b"1e400")
        delivery = _deliver(body)
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        stored = _stored([*good, bad["id"]])
        assert set(stored) == {*good, bad["id"]}
        assert stored[bad["id"]].payload["location"]["latitude"] == "inf"


class TestUnstorableMessagesAreRejectedVisibly:
    @pytest.mark.parametrize(
        ("field", "value", "reason"),
        [
            ("id", "wamid." + "x" * 300, "message id longer than 255"),
            ("from", "1" * 40, "sender (from) longer than 32"),
        ],
    )
    def test_rejected_with_the_reason_and_the_neighbours_are_stored(self, db, tenants_setup, field, value, reason):
        wa_id = unique_wa_id()
        bad = text_message(wa_id, "unstorable")
        bad[field] = value
        body, good = _batch(bad, wa_id=wa_id)
        delivery = _deliver(body)
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        assert delivery.attempts == 1  # done, not retried
        assert set(_stored(good)) == set(good)
        rejected = UnroutedEvent.objects.get(delivery=delivery, kind=UnroutedEvent.Kind.REJECTED)
        assert reason in rejected.reason
        assert rejected.phone_number_id == ALPHA["phone_number_id"]
        assert rejected.payload[field] == value

    def test_a_message_nested_too_deep_is_rejected(self, db, tenants_setup):
        wa_id = unique_wa_id()
        bad = text_message(wa_id, "deep")
        nested: dict = {}
        cursor = nested
        for _ in range(200):
            cursor["x"] = {}
            cursor = cursor["x"]
        bad["extra"] = nested
        body, good = _batch(bad, wa_id=wa_id)
        delivery = _deliver(body)
        assert delivery.state == WebhookDelivery.State.PROCESSED, delivery.error
        assert set(_stored(good)) == set(good)
        rejected = UnroutedEvent.objects.get(delivery=delivery, kind=UnroutedEvent.Kind.REJECTED)
        assert "nested deeper" in rejected.reason
        assert "unstorable" in rejected.payload

    def test_reprocessing_keeps_one_rejection(self, db, tenants_setup):
        wa_id = unique_wa_id()
        bad = text_message(wa_id, "unstorable")
        bad["id"] = "wamid." + "y" * 300
        body, good = _batch(bad, wa_id=wa_id)
        delivery = _deliver(body)
        ingest.deliveries_reset(delivery_ids=[delivery.pk])
        assert ingest.delivery_process(delivery_id=delivery.pk)
        assert UnroutedEvent.objects.filter(delivery=delivery, kind=UnroutedEvent.Kind.REJECTED).count() == 1
        assert len(_stored(good)) == 2


def test_a_value_the_bulk_statement_refuses_falls_back_to_one_message_at_a_time(db, tenants_setup):
    """What the parser lets through and the database still refuses costs only that message."""
    wa_id = unique_wa_id()
    good = [text_message(wa_id, "one"), text_message(wa_id, "two"), text_message(wa_id, "three")]
    body = json.dumps(envelope(contacts=[contact(wa_id)], messages=good)).encode()
    assert post_webhook(body).status_code == 200
    delivery = WebhookDelivery.objects.latest("id")
    unrouted = ingest.Unrouted(delivery.pk)
    claim = ingest.Claim(delivery.pk, body, 1, 1_750_000_000)
    parts = ingest.delivery_parse(claim, unrouted)
    part = parts[ALPHA["phone_number_id"]]
    # Built by hand past the parser's checks: a wamid too long for its column.
    part.messages[1] = dataclasses.replace(part.messages[1], wamid="wamid." + "z" * 300)
    assert inbound_parts_route(parts=parts, unrouted=unrouted) == []
    unrouted.save()
    assert set(_stored([good[0]["id"], good[2]["id"]])) == {good[0]["id"], good[2]["id"]}
    rejected = UnroutedEvent.objects.get(delivery=delivery, kind=UnroutedEvent.Kind.REJECTED)
    assert "rejected by the database" in rejected.reason and "DataError" in rejected.reason


class TestWebhookJsonProblems:
    def test_ten_thousand_levels_of_nesting_is_400(self, db, tenants_setup):
        body = b'{"object": "whatsapp_business_account", "entry": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
        response = post_webhook(body)
        assert response.status_code == 400
        assert response.json()["error"] == "malformed_json"
        assert not WebhookDelivery.objects.exists()

    def test_invalid_utf8_is_400_with_a_message(self, db, tenants_setup):
        response = post_webhook(b'{"object": "whatsapp_business_account", "x": "\xff\xfe"}')
        assert response.status_code == 400
        assert response.json()["message"].startswith("The body is not valid JSON")
        assert not WebhookDelivery.objects.exists()
