"""The webhook endpoint: verification, signatures, limits, durable storage before the 200."""

import json

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from conversations.models import Message
from conversations.tests.inbound_support import (
    WEBHOOK_URL,
    contact,
    envelope,
    post_webhook,
    text_message,
    unique_wa_id,
)
from conversations.tests.whatsapp_unit.fixtures import fixture_bytes
from conversations.whatsapp.ingest import delivery_process, tenant_app_secrets_clear
from conversations.whatsapp.models import WebhookDelivery
from conversations.whatsapp.signature import compute_signature
from tenants.models import PhoneNumber
from tests.support import wait_for
from tests.tenancy import ALPHA, BETA


def _verify(**params):
    return Client(HTTP_HOST="any.example").get(WEBHOOK_URL, params)


class TestVerification:
    def test_echoes_the_challenge_for_the_right_token(self, settings):
        response = _verify(
            **{
                "hub.mode": "subscribe",
                "hub.verify_token": settings.WHATSAPP_VERIFY_TOKEN,
                "hub.challenge": "1158201444",
            }
        )
        assert response.status_code == 200
        assert response.content == b"1158201444"
        assert response["Content-Type"].startswith("text/plain")

    @pytest.mark.parametrize(
        "params",
        [
            {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
            {"hub.mode": "unsubscribe", "hub.verify_token": "dev-verify-token", "hub.challenge": "1"},
            {"hub.mode": "subscribe", "hub.challenge": "1"},
            {},
        ],
    )
    def test_refuses_anything_else(self, db, settings, params):
        settings.WHATSAPP_VERIFY_TOKEN = "dev-verify-token"
        response = _verify(**params)
        assert response.status_code == 403
        assert response.content != b"1"


class TestSignature:
    def test_signed_post_is_stored_before_the_200(self, db, tenants_setup):
        body = fixture_bytes("message__text")
        response = post_webhook(body)
        assert response.status_code == 200
        delivery = WebhookDelivery.objects.get()
        assert bytes(delivery.body) == body  # the exact bytes Meta signed
        assert delivery.signature_verified is True
        assert delivery.state == WebhookDelivery.State.PENDING
        assert delivery.received_at is not None

    def test_forged_signature_is_401_and_stores_nothing(self, db, tenants_setup):
        body = fixture_bytes("message__text")
        response = post_webhook(body, signature=compute_signature("not-our-secret", body))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_signature"
        assert not WebhookDelivery.objects.exists()

    def test_missing_signature_is_401_and_stores_nothing(self, db, tenants_setup):
        response = post_webhook(fixture_bytes("message__text"), signature="")
        assert response.status_code == 401
        assert not WebhookDelivery.objects.exists()

    def test_signature_of_another_body_is_401(self, db, tenants_setup):
        body = fixture_bytes("message__text")
        signature = compute_signature("dev-app-secret", body.replace(b"Sheena", b"Sheenb"))
        assert post_webhook(body, signature=signature).status_code == 401
        assert not WebhookDelivery.objects.exists()

    def test_a_tenants_own_app_secret_is_accepted_for_its_numbers_only(self, db, alpha, beta):
        number = PhoneNumber.objects.get(pk=alpha.phone_number.pk)
        number.app_secret = "alpha-own-app-secret"
        number.save(update_fields=["app_secret"])
        tenant_app_secrets_clear()
        try:
            own = post_webhook(fixture_bytes("message__text"), secret="alpha-own-app-secret")
            assert own.status_code == 200
            # A tenant knows its own app secret: it must not sign events for another tenant's number.
            forged = envelope(
                phone_number_id=BETA["phone_number_id"],
                contacts=[contact("16505551234")],
                messages=[text_message("16505551234", "hi")],
            )
            assert post_webhook(forged, secret="alpha-own-app-secret").status_code == 401
            assert WebhookDelivery.objects.count() == 1
        finally:
            tenant_app_secrets_clear()


class TestMalformedRequests:
    def test_malformed_json_is_400(self, db, tenants_setup):
        response = post_webhook(b'{"object": "whatsapp_business_account", "entry": [')
        assert response.status_code == 400
        assert response.json()["error"] == "malformed_json"
        assert not WebhookDelivery.objects.exists()

    def test_json_that_is_not_an_object_is_400(self, db, tenants_setup):
        assert post_webhook(b"[1, 2, 3]").status_code == 400

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
    def test_wrong_content_type_is_415(self, db, tenants_setup, content_type):
        response = post_webhook(fixture_bytes("message__text"), content_type=content_type)
        assert response.status_code == 415
        assert response.json()["error"] == "unsupported_media_type"
        assert not WebhookDelivery.objects.exists()

    def test_content_type_with_charset_is_fine(self, db, tenants_setup):
        assert (
            post_webhook(fixture_bytes("message__text"), content_type="application/json; charset=utf-8").status_code
            == 200
        )

    def test_oversized_body_is_413(self, db, tenants_setup, settings):
        body = json.dumps({"object": "whatsapp_business_account", "padding": "x" * 4 * 1024 * 1024}).encode()
        assert len(body) > settings.WHATSAPP_WEBHOOK_MAX_BYTES
        response = post_webhook(body)
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
        assert not WebhookDelivery.objects.exists()

    def test_declared_length_over_the_limit_is_413_before_reading(self, db, tenants_setup, settings):
        settings.WHATSAPP_WEBHOOK_MAX_BYTES = 100
        body = fixture_bytes("message__text")
        assert len(body) > 100
        assert post_webhook(body).status_code == 413
        assert not WebhookDelivery.objects.exists()

    def test_empty_body_is_400(self, db, tenants_setup):
        signature = compute_signature("dev-app-secret", b"")
        response = Client().generic(
            "POST", WEBHOOK_URL, b"", CONTENT_TYPE="application/json", headers={"X-Hub-Signature-256": signature}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "empty_body"

    def test_other_methods_are_405(self, db, tenants_setup):
        assert Client().put(WEBHOOK_URL, data=b"{}", content_type="application/json").status_code == 405


def test_a_three_megabyte_batch_is_accepted(db, tenants_setup, settings):
    """Meta's largest POST: 1,000 updates, about 3 MB. More than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    wa_id = unique_wa_id()
    messages = [text_message(wa_id, f"{i} " + "lorem ipsum " * 250, timestamp=1749416400 + i) for i in range(1000)]
    body = json.dumps(envelope(contacts=[contact(wa_id)], messages=messages)).encode()
    assert 2.9 * 1024 * 1024 < len(body) < settings.WHATSAPP_WEBHOOK_MAX_BYTES
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = post_webhook(body)
    assert response.status_code == 200
    assert bytes(WebhookDelivery.objects.get().body) == body


def test_hot_path_costs_one_database_round_trip(db, tenants_setup):
    post_webhook(fixture_bytes("message__text"))  # a first request may set the search_path once
    with CaptureQueriesContext(connection) as queries:
        response = post_webhook(fixture_bytes("message__image"))
    assert response.status_code == 200
    assert len(queries) == 1, [q["sql"] for q in queries]
    sql = queries[0]["sql"]
    assert 'INSERT INTO "public"."whatsapp_webhookdelivery"' in sql and "pg_notify" in sql


def test_database_unreachable_is_503_and_a_redelivery_is_stored(live_db):
    wa_id = unique_wa_id()
    message = text_message(wa_id, "hello")
    body = json.dumps(envelope(contacts=[contact(wa_id)], messages=[message])).encode()
    conn = connections["default"]
    original = dict(conn.settings_dict)
    try:
        conn.close()
        conn.settings_dict["PORT"] = 1
        response = post_webhook(body)
    finally:
        conn.close()
        conn.settings_dict.update(original)
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"

    # Meta retries; once the database is back the same body is stored.
    assert post_webhook(body).status_code == 200
    [delivery] = WebhookDelivery.objects.filter(body=body)

    # Nothing lost: processing the stored delivery puts the message in Alpha's schema (a
    # worker running in this session may have claimed it first; either way it ends processed).
    delivery_process(delivery_id=delivery.pk)
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).state == WebhookDelivery.State.PROCESSED,
        timeout=30,
        what="the redelivery to be processed",
    )
    with schema_context(ALPHA["schema_name"]):
        stored = Message.objects.select_related("conversation__contact").get(wamid=message["id"])
    assert stored.body == "hello" and stored.conversation.contact.wa_id == wa_id
