"""Admin pages of the inbound side: platform (deliveries, unrouted events) and tenant (messages)."""

import json

from django.test import Client
from django_tenants.utils import schema_context

from conversations.models import Message
from conversations.tests.inbound_support import contact, envelope, text_message, unique_wa_id
from conversations.whatsapp import ingest
from conversations.whatsapp.models import UnroutedEvent, WebhookDelivery
from tests.tenancy import tenant_client


def platform_client(admin_user) -> Client:
    client = Client(HTTP_HOST="testserver")
    client.force_login(admin_user)
    return client


def stored(text: str, *, phone_number_id: str | None = None) -> int:
    wa_id = unique_wa_id()
    options = {"phone_number_id": phone_number_id} if phone_number_id else {}
    payload = envelope(contacts=[contact(wa_id, "Meera")], messages=[text_message(wa_id, text)], **options)
    return ingest.delivery_store(body=json.dumps(payload).encode())


def test_delivery_list_shows_sizes_not_bodies(db, tenants_setup, admin_user):
    delivery_id = stored("my card number is 4111")
    response = platform_client(admin_user).get("/admin/whatsapp/webhookdelivery/?state__exact=pending")
    assert response.status_code == 200
    body = response.content.decode()
    assert "4111" not in body
    size = len(bytes(WebhookDelivery.objects.get(pk=delivery_id).body))
    assert f"{size:,} bytes" in body


def test_delivery_detail_shows_a_truncated_json_view(db, tenants_setup, admin_user):
    delivery_id = stored("hello " * 5000)
    response = platform_client(admin_user).get(f"/admin/whatsapp/webhookdelivery/{delivery_id}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Meera" in body  # pretty-printed, keys sorted: entry → contacts → profile comes first
    assert "more characters" in body


def test_reprocess_action_processes_the_delivery_again(db, tenants_setup, admin_user):
    delivery_id = stored("again please")
    ingest.delivery_process(delivery_id=delivery_id)
    response = platform_client(admin_user).post(
        "/admin/whatsapp/webhookdelivery/",
        {"action": "reprocess", "_selected_action": [delivery_id]},
    )
    assert response.status_code == 302
    assert WebhookDelivery.objects.get(pk=delivery_id).state == WebhookDelivery.State.PENDING
    assert ingest.delivery_process(delivery_id=delivery_id)
    with schema_context("alpha"):
        assert Message.objects.filter(body="again please").count() == 1


def test_unrouted_events_are_listed_for_platform_staff(db, tenants_setup, admin_user):
    delivery_id = stored("who am I for", phone_number_id="123123123")
    ingest.delivery_process(delivery_id=delivery_id)
    event = UnroutedEvent.objects.get(delivery_id=delivery_id)
    client = platform_client(admin_user)
    listing = client.get("/admin/whatsapp/unroutedevent/")
    assert listing.status_code == 200 and "123123123" in listing.content.decode()
    detail = client.get(f"/admin/whatsapp/unroutedevent/{event.pk}/change/")
    assert detail.status_code == 200 and "who am I for" in detail.content.decode()


def test_tenant_admin_lists_and_searches_messages(db, alpha):
    ingest.delivery_process(delivery_id=stored("need a root canal"))
    client = tenant_client(alpha, login=True)
    for url in (
        "/admin/conversations/message/?q=root+canal",
        "/admin/conversations/message/?direction__exact=in&type__exact=text",
        "/admin/conversations/contact/?q=Meera",
        "/admin/conversations/conversation/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert "need a root canal" in client.get("/admin/conversations/message/?q=root+canal").content.decode()
    with schema_context("alpha"):
        message = Message.objects.get(body="need a root canal")
    assert client.get(f"/admin/conversations/message/{message.pk}/change/").status_code == 200


def test_tenant_models_hide_on_the_platform_admin(db, tenants_setup, admin_user):
    index = platform_client(admin_user).get("/admin/").content.decode()
    assert "/admin/whatsapp/webhookdelivery/" in index
    assert "/admin/conversations/message/" not in index
