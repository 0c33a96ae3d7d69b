"""The sandbox playing the customer: signed, Meta-shaped inbound webhooks."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from bizmitra.graph_api.client import GraphClient
from conversations.whatsapp.sandbox import GraphSandbox, WebhookDeliveryError

from .support import CUSTOMER, PNID, WABA_ID, WebhookReceiver, signature_valid, text_payload


def _value(request: dict) -> dict:
    return json.loads(request["body"])["entry"][0]["changes"][0]["value"]


def test_inject_text(sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    wamid, status = sandbox.inject_text(PNID, CUSTOMER, "Hi, is the shop open?", profile_name="Asha")

    assert status == 200
    [request] = receiver.received()
    assert signature_valid(request)
    assert request["headers"]["User-Agent"] == "facebookexternalua"
    payload = json.loads(request["body"])
    assert payload["object"] == "whatsapp_business_account"
    assert payload["entry"][0]["id"] == WABA_ID
    value = payload["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == PNID
    assert value["contacts"] == [{"profile": {"name": "Asha"}, "wa_id": CUSTOMER}]
    [message] = value["messages"]
    assert message["id"] == wamid and wamid.startswith("wamid.")
    assert message["from"] == CUSTOMER
    assert message["type"] == "text"
    assert message["text"] == {"body": "Hi, is the shop open?"}
    assert message["timestamp"].isdigit()


def test_inject_returns_our_servers_answer(sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    receiver.answers = [403]
    assert sandbox.inject_text(PNID, CUSTOMER, "x", wamid="wamid.fixed").status_code == 403
    assert sandbox.inject_text(PNID, CUSTOMER, "x", wamid="wamid.fixed") == ("wamid.fixed", 200)


def test_body_is_escaped_like_meta_and_signed_over_raw_bytes(sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    sandbox.inject_text(PNID, CUSTOMER, "äöå https://example.com/a")
    [request] = receiver.received()
    assert b"\\u00e4\\u00f6\\u00e5" in request["body"]
    assert b"https:\\/\\/example.com\\/a" in request["body"]
    assert signature_valid(request)
    reserialised = json.dumps(json.loads(request["body"])).encode()
    assert not signature_valid({**request, "body": reserialised})


def test_button_reply_defaults_context_to_our_last_send(
    client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver
) -> None:
    sandbox.webhook_url, url = None, sandbox.webhook_url
    sent = client.send_message(PNID, text_payload())
    sandbox.webhook_url = url

    sandbox.inject_button_reply(PNID, CUSTOMER, "confirm-17", "Confirm")

    [message] = _value(receiver.received()[-1])["messages"]
    assert message["type"] == "interactive"
    assert message["interactive"] == {"type": "button_reply", "button_reply": {"id": "confirm-17", "title": "Confirm"}}
    assert message["context"]["id"] == sent.wamid


def test_list_and_quick_replies(sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    sandbox.inject_list_reply(PNID, CUSTOMER, "slot-2", "Tuesday 10:00", "45 min", context_wamid="wamid.LIST")
    sandbox.inject_quick_reply(PNID, CUSTOMER, "STOP_PROMOS", "Stop promotions", context_wamid="wamid.TPL")

    first, second = (_value(r)["messages"][0] for r in receiver.received())
    assert first["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "slot-2", "title": "Tuesday 10:00", "description": "45 min"},
    }
    assert first["context"]["id"] == "wamid.LIST"
    assert second["type"] == "button"
    assert second["button"] == {"payload": "STOP_PROMOS", "text": "Stop promotions"}


def test_inject_media_then_fetch_it_like_the_product(
    client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver
) -> None:
    data = b"\x89PNG\r\n\x1a\n fake image"
    sandbox.inject_media(PNID, CUSTOMER, "document", "7788", "application/pdf", "Invoice", "inv.pdf", data=data)

    [message] = _value(receiver.received()[0])["messages"]
    document = message["document"]
    assert document["id"] == "7788"
    assert document["mime_type"] == "application/pdf"
    assert document["caption"] == "Invoice" and document["filename"] == "inv.pdf"
    assert document["sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    info = client.get_media(document["id"], PNID)
    assert client.download_media(info.url) == data


def test_inject_raw_batched_payload(sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": WABA_ID, "changes": [{"field": "messages", "value": {"messages": [{"id": "wamid.A"}]}}]},
            {"id": WABA_ID, "changes": [{"field": "messages", "value": {"messages": [{"id": "wamid.B"}]}}]},
        ],
    }
    assert sandbox.inject_raw(payload) == ("wamid.A", 200)
    assert sandbox.inject_raw(b'{"object":"x"}').status_code == 200
    assert receiver.received()[1]["body"] == b'{"object":"x"}'
    assert all(signature_valid(r) for r in receiver.received())


def test_inject_status_for_out_of_order_delivery(sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    sandbox.inject_status(PNID, "wamid.X", "read", CUSTOMER)
    sandbox.inject_status(PNID, "wamid.X", "delivered", CUSTOMER)
    assert [s["status"] for s in receiver.statuses()] == ["read", "delivered"]


def test_inject_without_a_receiver_raises(sandbox: GraphSandbox) -> None:
    sandbox.webhook_url = None
    with pytest.raises(WebhookDeliveryError):
        sandbox.inject_text(PNID, CUSTOMER, "anyone?")
