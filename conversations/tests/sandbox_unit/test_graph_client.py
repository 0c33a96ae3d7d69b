"""GraphClient against a running GraphSandbox over loopback HTTP."""

from __future__ import annotations

import hashlib
import socket

import httpx
import pytest

from bizmitra.graph_api.client import GraphApiError, GraphClient, GraphTransportError
from conversations.whatsapp.sandbox import GraphSandbox

from .support import CUSTOMER, PNID, TOKEN, WABA_ID, text_payload


def test_send_text_returns_wamid_and_is_recorded(client: GraphClient, sandbox: GraphSandbox) -> None:
    result = client.send_message(PNID, text_payload("Hi there"))

    assert result.wamid.startswith("wamid.")
    assert result.wa_id == CUSTOMER
    assert result.raw["contacts"] == [{"input": "+" + CUSTOMER, "wa_id": CUSTOMER}]
    [record] = sandbox.sent_messages
    assert record["wamid"] == result.wamid
    assert record["phone_number_id"] == PNID
    assert record["payload"]["messaging_product"] == "whatsapp"
    assert record["payload"]["text"]["body"] == "Hi there"
    assert record["received_at"] > 0 and record["received_at_wall"] > 0


def test_wamids_are_unique(client: GraphClient) -> None:
    wamids = {client.send_message(PNID, text_payload(str(i))).wamid for i in range(50)}
    assert len(wamids) == 50


def test_each_client_sends_its_own_token(sandbox: GraphSandbox) -> None:
    sandbox.register_number("111", "token-a", waba_id="waba-a")
    sandbox.register_number("222", "token-b", waba_id="waba-b")
    alpha = GraphClient(base_url=sandbox.base_url, api_version="25.0", access_token="token-a")
    beta = GraphClient(base_url=sandbox.base_url, api_version="v25.0", access_token="token-b")

    alpha.send_message("111", text_payload())
    beta.send_message("222", text_payload())
    with pytest.raises(GraphApiError) as caught:
        alpha.send_message("222", text_payload())

    error = caught.value
    assert (error.code, error.http_status, error.error_type) == (190, 401, "OAuthException")
    assert not error.retryable and error.is_auth_error
    assert [r["phone_number_id"] for r in sandbox.sent_messages] == ["111", "222"]


def test_unknown_phone_number_is_refused_once_numbers_are_registered(
    client: GraphClient, sandbox: GraphSandbox
) -> None:
    sandbox.register_number(PNID, TOKEN)
    with pytest.raises(GraphApiError) as caught:
        client.send_message("999", text_payload())
    assert caught.value.code == 100
    assert caught.value.error_subcode == 33
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("code", "title", "retryable"),
    [
        (130429, "Rate limit hit", True),
        (131056, "(Business Account, Consumer Account) pair rate limit hit", True),
        (131000, "Something went wrong", True),
        (131047, "Re-engagement message", False),
        (131026, "Message undeliverable", False),
        (190, "Access token has expired", False),
    ],
)
def test_simulated_errors_map_to_graph_api_error(
    client: GraphClient, sandbox: GraphSandbox, code: int, title: str, retryable: bool
) -> None:
    sandbox.fail_next(code=code)

    with pytest.raises(GraphApiError) as caught:
        client.send_message(PNID, text_payload())

    error = caught.value
    assert error.code == code
    assert error.title == title
    assert error.message == f"(#{code}) {title}"
    assert error.retryable is retryable
    assert error.http_status == (401 if code == 190 else 400)
    assert error.fbtrace_id
    assert error.details
    # Only the next send fails, and the failed one was not recorded.
    client.send_message(PNID, text_payload())
    assert len(sandbox.sent_messages) == 1


def test_fail_next_counts_and_custom_title(client: GraphClient, sandbox: GraphSandbox) -> None:
    sandbox.fail_next(code=4, count=2, title="Application request limit reached", details="slow down")
    for _ in range(2):
        with pytest.raises(GraphApiError) as caught:
            client.send_message(PNID, text_payload())
        assert caught.value.details == "slow down"
        assert caught.value.is_rate_limit and caught.value.retryable
    client.send_message(PNID, text_payload())


def test_fail_next_for_one_recipient_only(client: GraphClient, sandbox: GraphSandbox) -> None:
    sandbox.fail_next(code=131026, to="+15550001111")
    client.send_message(PNID, text_payload(to="+" + CUSTOMER))
    with pytest.raises(GraphApiError):
        client.send_message(PNID, text_payload(to="+15550001111"))


def test_plain_5xx_is_a_retryable_transport_error(client: GraphClient, sandbox: GraphSandbox) -> None:
    sandbox.fail_next(code=131000, http_status=502)
    with pytest.raises(GraphTransportError) as caught:
        client.send_message(PNID, text_payload())
    assert caught.value.retryable
    assert caught.value.http_status == 502


def test_5xx_with_graph_body_is_retryable_even_for_a_permanent_code(client: GraphClient, sandbox: GraphSandbox) -> None:
    sandbox.fail_next(code=100, http_status=500, plain=False)
    with pytest.raises(GraphApiError) as caught:
        client.send_message(PNID, text_payload())
    assert caught.value.http_status == 500
    assert caught.value.retryable


def test_slow_answer_times_out_but_message_was_accepted(sandbox: GraphSandbox) -> None:
    client = GraphClient(base_url=sandbox.base_url, api_version="v25.0", access_token=TOKEN, timeout=0.2)
    sandbox.delay_next(1.0)

    with pytest.raises(GraphTransportError) as caught:
        client.send_message(PNID, text_payload())

    assert caught.value.retryable
    assert caught.value.maybe_processed
    # Like a slow Meta: the send went through even though the client gave up.
    assert len(sandbox.sent_messages) == 1
    client.send_message(PNID, text_payload())


def test_dropped_connection_is_a_transport_error(client: GraphClient, sandbox: GraphSandbox) -> None:
    sandbox.drop_connection_next()
    with pytest.raises(GraphTransportError) as caught:
        client.send_message(PNID, text_payload())
    assert caught.value.maybe_processed
    assert sandbox.sent_messages == []

    sandbox.drop_connection_next(after_processing=True)
    with pytest.raises(GraphTransportError):
        client.send_message(PNID, text_payload())
    assert len(sandbox.sent_messages) == 1


def test_connection_refused_was_not_processed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = GraphClient(base_url=f"http://127.0.0.1:{port}", api_version="v25.0", access_token=TOKEN, timeout=1)
    with pytest.raises(GraphTransportError) as caught:
        client.send_message(PNID, text_payload())
    assert caught.value.retryable
    assert caught.value.maybe_processed is False


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"type": "text", "text": {"body": "no recipient"}}, 100),
        ({"to": "+1555", "type": "text", "text": {"body": ""}}, 131008),
        ({"to": "+1555", "type": "text", "text": {"body": "x" * 4097}}, 100),
        ({"to": "+1555", "type": "sms", "sms": {}}, 100),
        ({"to": "+1555", "type": "image"}, 131008),
        (
            {
                "to": "+1555",
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "x" * 21}}]},
                },
            },
            131009,
        ),
    ],
)
def test_malformed_sends_get_meta_validation_errors(client: GraphClient, payload: dict, code: int) -> None:
    with pytest.raises(GraphApiError) as caught:
        client.send_message(PNID, payload)
    assert caught.value.code == code
    assert caught.value.http_status == 400
    assert not caught.value.retryable


def test_wrong_messaging_product_is_rejected(sandbox: GraphSandbox) -> None:
    answer = httpx.post(
        f"{sandbox.base_url}/v25.0/{PNID}/messages",
        json={"messaging_product": "sms", "to": "+1555", "text": {"body": "x"}},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100


def test_missing_bearer_token_is_401(sandbox: GraphSandbox) -> None:
    answer = httpx.post(f"{sandbox.base_url}/v25.0/{PNID}/messages", json=text_payload())
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == 190


def test_template_send_checks_registered_templates(client: GraphClient, sandbox: GraphSandbox) -> None:
    sandbox.register_number(PNID, TOKEN, waba_id=WABA_ID)
    sandbox.add_message_template(WABA_ID, "order_update", language="en_US")
    template = {
        "to": "+" + CUSTOMER,
        "type": "template",
        "template": {"name": "order_update", "language": {"code": "en_US"}},
    }
    client.send_message(PNID, template)

    template["template"]["name"] = "missing"
    with pytest.raises(GraphApiError) as caught:
        client.send_message(PNID, template)
    assert caught.value.code == 132001


def test_mark_read(client: GraphClient, sandbox: GraphSandbox) -> None:
    client.mark_read(PNID, "wamid.ABC", typing_indicator=True)
    [receipt] = sandbox.read_receipts
    assert receipt["message_id"] == "wamid.ABC"
    assert receipt["typing_indicator"] == {"type": "text"}
    assert sandbox.sent_messages == []


def test_media_upload_get_and_download(client: GraphClient, sandbox: GraphSandbox) -> None:
    data = b"%PDF-1.4\r\n\x00\xff binary \r\n--boundary-like\r\n"
    media_id = client.upload_media(PNID, data, "application/pdf", "invoice.pdf")

    info = client.get_media(media_id, PNID)
    assert info.id == media_id
    assert info.mime_type == "application/pdf"
    assert info.file_size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.url.startswith(sandbox.base_url)
    assert client.download_media(info.url) == data
    # Meta: "If you omit your token, the request will fail."
    assert httpx.get(info.url).status_code == 401


def test_media_ownership_and_unknown_ids(client: GraphClient, sandbox: GraphSandbox) -> None:
    media_id = sandbox.add_media(None, b"img", "image/jpeg", phone_number_id=PNID)
    with pytest.raises(GraphApiError) as caught:
        client.get_media(media_id, "someone-else")
    assert caught.value.code == 100
    with pytest.raises(GraphApiError):
        client.get_media("404404404")


def test_expired_media_url_is_404(sandbox: GraphSandbox, client: GraphClient) -> None:
    sandbox.media_url_ttl = -1
    media_id = sandbox.add_media("42", b"img", "image/jpeg")
    info = client.get_media(media_id)
    with pytest.raises(GraphTransportError) as caught:
        client.download_media(info.url)
    assert caught.value.http_status == 404


def test_list_templates_follows_paging(client: GraphClient, sandbox: GraphSandbox) -> None:
    for index in range(7):
        sandbox.add_message_template(WABA_ID, f"template_{index}", category="MARKETING")

    templates = client.list_message_templates(WABA_ID, limit=3)

    assert [t["name"] for t in templates] == [f"template_{i}" for i in range(7)]
    assert {t["status"] for t in templates} == {"APPROVED"}
    assert set(templates[0]) >= {"name", "language", "status", "category", "components", "id"}
    pages = [r for r in sandbox.requests if r["path"].endswith("/message_templates")]
    assert len(pages) == 3


def test_list_templates_fields_and_empty(client: GraphClient, sandbox: GraphSandbox) -> None:
    assert client.list_message_templates("no-templates") == []
    sandbox.add_message_template(WABA_ID, "hello_world")
    [template] = client.list_message_templates(WABA_ID, fields=["name", "status"])
    assert set(template) == {"name", "status", "id"}


def test_client_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        GraphClient(base_url="graph.facebook.com", api_version="v25.0", access_token=TOKEN)
    with pytest.raises(ValueError):
        GraphClient(base_url="https://graph.facebook.com", api_version="v25.0", access_token="")
    client = GraphClient(base_url="https://graph.facebook.com/", api_version="25.0", access_token="secret")
    assert "secret" not in repr(client)
    assert client._url("1", "messages") == "https://graph.facebook.com/v25.0/1/messages"
