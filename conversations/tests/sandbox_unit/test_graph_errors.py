"""Parsing Meta's error body into GraphApiError, and the retry table (FACTS.md §2.4, §3)."""

from __future__ import annotations

import pickle

import httpx
import pytest

from bizmitra.graph_api.client import GraphApiError, GraphClient, GraphTransportError

META_RATE_LIMIT = {
    "error": {
        "message": "(#130429) Rate limit hit",
        "type": "OAuthException",
        "code": 130429,
        "error_data": {"messaging_product": "whatsapp", "details": "Cloud API message throughput has been reached."},
        "error_subcode": 2494055,
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
    }
}


def test_parses_metas_documented_error_body() -> None:
    error = GraphApiError.from_error_body(META_RATE_LIMIT["error"], http_status=400)

    assert error.code == 130429
    assert error.title == "Rate limit hit"
    assert error.message == "(#130429) Rate limit hit"
    assert error.details == "Cloud API message throughput has been reached."
    assert error.fbtrace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert error.error_subcode == 2494055
    assert error.http_status == 400
    assert error.is_transient is None
    assert error.retryable and error.is_rate_limit


def test_error_user_title_wins_and_string_error_data_is_decoded() -> None:
    error = GraphApiError.from_error_body(
        {
            "message": "(#100) Invalid parameter",
            "code": 100,
            "error_user_title": "Bad template",
            "error_user_msg": "fix it",
            "error_data": '{"details": "json in a string"}',
            "is_transient": False,
        },
        http_status=400,
    )
    assert error.title == "Bad template"
    assert error.details == "json in a string"
    assert error.is_transient is False
    assert not error.retryable


def test_message_without_code_prefix_is_the_title() -> None:
    error = GraphApiError.from_error_body(
        {"message": "Invalid OAuth access token - Cannot parse access token", "type": "OAuthException", "code": 190},
        http_status=401,
    )
    assert error.title == "Invalid OAuth access token - Cannot parse access token"
    assert error.is_auth_error and not error.retryable


@pytest.mark.parametrize("code", [1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057])
def test_retryable_codes(code: int) -> None:
    assert GraphApiError(code, "t", "m", 400).retryable


@pytest.mark.parametrize(
    "code", [0, 3, 10, 100, 190, 200, 368, 131005, 131008, 131009, 131026, 131047, 131048, 131051, 132000, 132001]
)
def test_permanent_codes(code: int) -> None:
    assert not GraphApiError(code, "t", "m", 400).retryable


def test_any_5xx_or_transient_flag_is_retryable() -> None:
    assert GraphApiError(131047, "t", "m", 503).retryable
    assert GraphApiError(99999, "t", "m", 400, is_transient=True).retryable


def _client(handler) -> GraphClient:
    return GraphClient(
        base_url="https://graph.example",
        api_version="v25.0",
        access_token="tok",
        transport=httpx.MockTransport(handler),
    )


def test_token_is_sent_per_request_and_non_json_is_a_transport_error() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, text="<html>gateway</html>")

    with _client(handler) as client, pytest.raises(GraphTransportError) as caught:
        client.send_message("1", {"to": "+1", "type": "text", "text": {"body": "x"}})
    assert seen == ["Bearer tok"]
    assert caught.value.retryable and caught.value.http_status == 200


def test_paging_next_is_rerooted_on_base_url() -> None:
    urls = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        if "after" in request.url.params:
            return httpx.Response(200, json={"data": [{"name": "b"}]})
        return httpx.Response(
            200,
            json={
                "data": [{"name": "a"}],
                "paging": {"next": "https://evil.example/v25.0/W/message_templates?after=X"},
            },
        )

    with _client(handler) as client:
        assert [t["name"] for t in client.list_message_templates("W")] == ["a", "b"]
    assert urls[1].startswith("https://graph.example/v25.0/W/message_templates?after=X")


def test_errors_survive_pickling() -> None:
    error = GraphApiError.from_error_body(META_RATE_LIMIT["error"], http_status=400)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.title, copy.details, copy.error_subcode, copy.retryable) == (
        130429,
        "Rate limit hit",
        "Cloud API message throughput has been reached.",
        2494055,
        True,
    )
    transport = pickle.loads(pickle.dumps(GraphTransportError("boom", http_status=502, maybe_processed=False)))
    assert (str(transport), transport.http_status, transport.maybe_processed) == ("boom", 502, False)
