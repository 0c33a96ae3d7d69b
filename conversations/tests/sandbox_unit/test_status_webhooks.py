"""Status webhooks the sandbox sends after an accepted send, checked at a real receiver."""

from __future__ import annotations

import json

from bizmitra.graph_api.client import GraphClient
from conversations.whatsapp.sandbox import GraphSandbox

from .support import APP_SECRET, CUSTOMER, PNID, TOKEN, WABA_ID, WebhookReceiver, signature_valid, text_payload


def test_sent_delivered_read_arrive_signed_in_meta_envelope(
    client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver
) -> None:
    result = client.send_message(PNID, text_payload(biz_opaque_callback_data="order-17"))

    requests = receiver.wait_for(lambda r: len(r) >= 3)

    assert all(signature_valid(r) for r in requests)
    assert not any(signature_valid(r, secret="wrong") for r in requests)
    assert {r["headers"]["Content-Type"] for r in requests} == {"application/json"}
    payload = json.loads(requests[0]["body"])
    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    assert entry["id"] == WABA_ID
    [change] = entry["changes"]
    assert change["field"] == "messages"
    assert change["value"]["messaging_product"] == "whatsapp"
    assert change["value"]["metadata"]["phone_number_id"] == PNID
    statuses = receiver.statuses()
    assert sorted(s["status"] for s in statuses) == ["delivered", "read", "sent"]
    for status in statuses:
        assert status["id"] == result.wamid
        assert status["recipient_id"] == CUSTOMER
        assert isinstance(status["timestamp"], str) and status["timestamp"].isdigit()
        assert status["biz_opaque_callback_data"] == "order-17"
        assert "conversation" not in status  # v24.0+
    by_status = {s["status"]: s for s in statuses}
    assert by_status["sent"]["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "category": "service",
        "type": "free_customer_service",
    }
    assert "pricing" in by_status["delivered"] and "pricing" not in by_status["read"]
    assert sandbox.wait_idle(2.0)


def test_each_status_is_its_own_post_and_no_opaque_data_unless_sent(
    client: GraphClient, receiver: WebhookReceiver
) -> None:
    client.send_message(PNID, text_payload())
    receiver.wait_for(lambda r: len(r) >= 3)
    for payload in receiver.payloads():
        [status] = payload["entry"][0]["changes"][0]["value"]["statuses"]
        assert "biz_opaque_callback_data" not in status


def test_template_send_is_billed_with_its_category(
    client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver
) -> None:
    sandbox.auto_statuses = ("sent",)
    sandbox.register_number(PNID, TOKEN, waba_id="555", display_phone_number="15550001234")
    sandbox.add_message_template("555", "promo", category="MARKETING")
    client.send_message(
        PNID, {"to": CUSTOMER, "type": "template", "template": {"name": "promo", "language": {"code": "en_US"}}}
    )
    [request] = receiver.wait_for(lambda r: len(r) >= 1)
    value = json.loads(request["body"])["entry"][0]["changes"][0]["value"]
    assert value["metadata"] == {"display_phone_number": "15550001234", "phone_number_id": PNID}
    assert value["statuses"][0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "marketing",
        "type": "regular",
    }


def test_older_graph_versions_still_get_conversation(sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    client = GraphClient(base_url=sandbox.base_url, api_version="v21.0", access_token=TOKEN)
    client.send_message(PNID, text_payload())
    receiver.wait_for(lambda r: len(r) >= 3)
    by_status = {s["status"]: s for s in receiver.statuses()}
    assert by_status["sent"]["conversation"]["origin"] == {"type": "service"}
    assert "expiration_timestamp" in by_status["sent"]["conversation"]


def test_non_200_answers_are_retried_with_the_same_body(
    client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver
) -> None:
    sandbox.auto_statuses = ("sent",)
    receiver.answers = [500, 503]

    client.send_message(PNID, text_payload())

    requests = receiver.wait_for(lambda r: len(r) >= 3)
    assert [r["answered"] for r in requests] == [500, 503, 200]
    assert len({r["body"] for r in requests}) == 1
    assert all(signature_valid(r) for r in requests)
    assert sandbox.wait_idle(2.0)
    attempts = [d["attempt"] for d in sandbox.webhook_deliveries]
    assert attempts == [1, 2, 3]


def test_delivery_gives_up_after_the_retry_schedule(
    client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver
) -> None:
    sandbox.auto_statuses = ("sent",)
    receiver.answers = [500] * 10
    client.send_message(PNID, text_payload())
    assert sandbox.wait_idle(2.0)
    assert len(receiver.received()) == 3  # first try + 2 retries (fixture schedule)


def test_asynchronous_failure_arrives_as_failed_status(
    client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver
) -> None:
    sandbox.fail_next(code=131047, asynchronous=True)

    result = client.send_message(PNID, text_payload(biz_opaque_callback_data="x"))

    receiver.wait_for(lambda r: len(r) >= 1)
    assert sandbox.wait_idle(2.0)
    [status] = receiver.statuses()
    assert status["id"] == result.wamid
    assert status["status"] == "failed"
    assert status["biz_opaque_callback_data"] == "x"
    [error] = status["errors"]
    assert error["code"] == 131047
    assert error["title"] == "Re-engagement message"
    assert "24 hours" in error["error_data"]["details"]
    assert "pricing" not in status


def test_no_statuses_without_webhook_url(client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    sandbox.webhook_url = None
    client.send_message(PNID, text_payload())
    assert sandbox.wait_idle(1.0)
    assert receiver.received() == []


def test_reset_drops_queued_statuses(client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    sandbox.status_delay = 5.0
    client.send_message(PNID, text_payload())
    sandbox.reset()
    assert sandbox.wait_idle(1.0)
    assert sandbox.sent_messages == []
    assert receiver.received() == []


def test_app_secret_is_read_at_send_time(client: GraphClient, sandbox: GraphSandbox, receiver: WebhookReceiver) -> None:
    sandbox.auto_statuses = ("sent",)
    sandbox.app_secret = "rotated"
    client.send_message(PNID, text_payload())
    [request] = receiver.wait_for(lambda r: len(r) >= 1)
    assert signature_valid(request, secret="rotated")
    assert not signature_valid(request, secret=APP_SECRET)
