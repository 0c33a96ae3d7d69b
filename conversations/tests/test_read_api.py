"""The read API: contacts, conversations and messages of one tenant, and nobody else's."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.choices import ConversationStatus, Direction, MediaStatus, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message
from tests.tenancy import tenant_client

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
PHONE_NUMBER_ID = "106540352242922"
# A list request: 2 search_path switches, the Host's domain, the API key and its last_used_at
# update, then COUNT(*) and one page (related rows joined in). It must not grow with the rows.
QUERY_BUDGET = 7


def api_client(onboarding) -> Client:
    """A server-to-server caller: the tenant's API key, on the tenant's domain."""
    return Client(HTTP_HOST=onboarding.domain.domain, HTTP_AUTHORIZATION=f"Bearer {onboarding.api_key.raw_key}")


def make_contact(*, wa_id: str | None = None, user_id: str | None = None, name: str = "") -> Contact:
    return Contact.objects.create(wa_id=wa_id, user_id=user_id, profile_name=name)


def make_conversation(
    contact: Contact, *, status: str = ConversationStatus.OPEN, last_message_at=None, **fields
) -> Conversation:
    return Conversation.objects.create(
        contact=contact, phone_number_id=PHONE_NUMBER_ID, status=status, last_message_at=last_message_at, **fields
    )


def make_message(conversation: Conversation, *, direction: str = Direction.INBOUND, **fields) -> Message:
    defaults = {
        "type": MessageType.TEXT,
        "status": MessageStatus.RECEIVED if direction == Direction.INBOUND else MessageStatus.QUEUED,
        "timestamp": NOW,
    }
    return Message.objects.create(conversation=conversation, direction=direction, **{**defaults, **fields})


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def assert_error_body(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "fields"}
    assert body["error"] == error and body["message"]
    return body


@pytest.fixture
def inbox(alpha, db):
    """Alpha's inbox: four conversations with different activity, and a few messages."""
    with schema_context(alpha.tenant.schema_name):
        asha = make_contact(wa_id="919876543210", name="Asha Rao")
        bilal = make_contact(wa_id="15550001111", name="Bilal Khan")
        chen = make_contact(user_id="US.13491208655302741918", name="Chen Wei")
        dev = make_contact(wa_id="447700900123", name="")
        conversations = {
            "asha": make_conversation(asha, last_message_at=NOW - timedelta(hours=3)),
            "bilal": make_conversation(
                bilal, status=ConversationStatus.HANDED_OFF, last_message_at=NOW - timedelta(hours=1)
            ),
            "chen": make_conversation(chen, status=ConversationStatus.CLOSED, last_message_at=NOW - timedelta(hours=2)),
            "dev": make_conversation(dev, last_message_at=None),
        }
        asha_conversation = conversations["asha"]
        messages = {
            "hello": make_message(
                asha_conversation,
                body="Hi, can I book a cleaning?",
                wamid="wamid.IN1",
                timestamp=NOW - timedelta(hours=5),
            ),
            "reply": make_message(
                asha_conversation,
                direction=Direction.OUTBOUND,
                type=MessageType.INTERACTIVE,
                body="Which day suits you?",
                wamid="wamid.OUT1",
                idempotency_key="reply-1",
                status=MessageStatus.READ,
                timestamp=NOW - timedelta(hours=4, minutes=59),
                sent_at=NOW - timedelta(hours=4, minutes=59),
                delivered_at=NOW - timedelta(hours=4, minutes=58),
                read_at=NOW - timedelta(hours=4, minutes=57),
                payload={"messaging_product": "whatsapp", "to": "919876543210", "type": "interactive"},
            ),
            "button": make_message(
                asha_conversation,
                type=MessageType.BUTTON_REPLY,
                body="Tuesday",
                payload_id="day_tue",
                payload_title="Tuesday",
                payload={"type": "interactive", "interactive": {"button_reply": {"id": "day_tue", "title": "Tuesday"}}},
                wamid="wamid.IN2",
                context_wamid="wamid.OUT1",
                timestamp=NOW - timedelta(hours=4),
            ),
            "failed": make_message(
                asha_conversation,
                direction=Direction.OUTBOUND,
                body="See you Tuesday!",
                wamid="wamid.OUT2",
                idempotency_key="reply-2",
                status=MessageStatus.FAILED,
                error_code=131047,
                error_title="Re-engagement message",
                error_details="Message failed to send because more than 24 hours have passed.",
                timestamp=NOW - timedelta(hours=3),
                sent_at=NOW - timedelta(hours=3),
                failed_at=NOW - timedelta(hours=2, minutes=59),
            ),
        }
    return {"conversations": conversations, "messages": messages, "contacts": [asha, bilal, chen, dev]}


class TestConversationList:
    def test_newest_activity_first_and_conversations_without_messages_last(self, alpha, inbox):
        c = inbox["conversations"]
        response = api_client(alpha).get("/api/conversations/")
        assert ids(response) == [c["bilal"].id, c["chen"].id, c["asha"].id, c["dev"].id]
        body = response.json()
        assert body["count"] == 4 and body["next"] is None and body["previous"] is None

    def test_rows_carry_the_contact_keyed_on_wa_id_or_user_id(self, alpha, inbox):
        rows = {row["id"]: row for row in api_client(alpha).get("/api/conversations/").json()["results"]}
        chen = rows[inbox["conversations"]["chen"].id]
        assert chen["status"] == "closed"
        assert chen["phone_number_id"] == PHONE_NUMBER_ID
        assert chen["contact"]["wa_id"] is None
        assert chen["contact"]["user_id"] == "US.13491208655302741918"
        assert chen["contact"]["profile_name"] == "Chen Wei"
        asha = rows[inbox["conversations"]["asha"].id]
        assert asha["contact"]["wa_id"] == "919876543210" and asha["contact"]["user_id"] is None
        assert asha["last_message_at"] is not None and asha["created_at"] is not None

    def test_paginated_25_a_page(self, alpha, db):
        with schema_context(alpha.tenant.schema_name):
            created = [
                make_conversation(
                    make_contact(wa_id=f"9100000000{i:02d}"), last_message_at=NOW - timedelta(minutes=i)
                ).id
                for i in range(30)
            ]
        client = api_client(alpha)
        first = client.get("/api/conversations/").json()
        assert first["count"] == 30 and len(first["results"]) == 25
        assert [row["id"] for row in first["results"]] == created[:25]
        assert first["next"].endswith("/api/conversations/?page=2")
        second = client.get("/api/conversations/", {"page": 2}).json()
        assert [row["id"] for row in second["results"]] == created[25:]
        assert second["next"] is None and second["previous"] is not None
        assert ids(client.get("/api/conversations/", {"page_size": 10, "page": 3})) == created[20:30]
        assert len(client.get("/api/conversations/", {"page_size": 1000}).json()["results"]) == 30
        assert_error_body(client.get("/api/conversations/", {"page": 9}), 404, "not_found")

    def test_filter_by_status(self, alpha, inbox):
        c = inbox["conversations"]
        client = api_client(alpha)
        assert ids(client.get("/api/conversations/", {"status": "handed_off"})) == [c["bilal"].id]
        assert ids(client.get("/api/conversations/?status=open&status=closed")) == [
            c["chen"].id,
            c["asha"].id,
            c["dev"].id,
        ]
        body = assert_error_body(client.get("/api/conversations/", {"status": "archived"}), 400, "validation_error")
        assert "status" in body["fields"]

    def test_filter_by_contact_id_wa_id_and_user_id(self, alpha, inbox):
        c = inbox["conversations"]
        client = api_client(alpha)
        assert ids(client.get("/api/conversations/", {"contact": c["bilal"].contact_id})) == [c["bilal"].id]
        assert ids(client.get("/api/conversations/", {"wa_id": "919876543210"})) == [c["asha"].id]
        assert ids(client.get("/api/conversations/", {"wa_id": "+91 98765 43210"})) == [c["asha"].id]
        assert ids(client.get("/api/conversations/", {"wa_id": "98765"})) == []
        assert ids(client.get("/api/conversations/", {"user_id": "US.13491208655302741918"})) == [c["chen"].id]
        assert ids(client.get("/api/conversations/", {"contact": 999999})) == []

    def test_search_on_contact_name_and_wa_id(self, alpha, inbox):
        c = inbox["conversations"]
        client = api_client(alpha)
        assert ids(client.get("/api/conversations/", {"q": "asha"})) == [c["asha"].id]
        assert ids(client.get("/api/conversations/", {"q": "KHAN"})) == [c["bilal"].id]
        assert ids(client.get("/api/conversations/", {"q": "7700900"})) == [c["dev"].id]
        assert ids(client.get("/api/conversations/", {"q": "+44 7700 900123"})) == [c["dev"].id]
        assert ids(client.get("/api/conversations/", {"q": "US.1349"})) == [c["chen"].id]
        assert ids(client.get("/api/conversations/", {"q": "nobody"})) == []
        assert len(ids(client.get("/api/conversations/", {"q": "  "}))) == 4
        # Search and filters combine.
        assert ids(client.get("/api/conversations/", {"q": "a", "status": "open"})) == [c["asha"].id]

    def test_query_count_does_not_grow_with_rows(self, alpha, db, django_assert_max_num_queries):
        client = api_client(alpha)
        with schema_context(alpha.tenant.schema_name):
            make_conversation(make_contact(wa_id="910000000999"), last_message_at=NOW)
        with django_assert_max_num_queries(QUERY_BUDGET) as few:
            assert len(ids(client.get("/api/conversations/"))) == 1
        with schema_context(alpha.tenant.schema_name):
            for i in range(30):
                make_conversation(make_contact(wa_id=f"9200000000{i:02d}"), last_message_at=NOW)
        with django_assert_max_num_queries(QUERY_BUDGET) as many:
            assert len(ids(client.get("/api/conversations/"))) == 25
        assert len(many.captured_queries) == len(few.captured_queries)


class TestConversationDetail:
    def test_returns_one_conversation(self, alpha, inbox):
        conversation = inbox["conversations"]["bilal"]
        body = api_client(alpha).get(f"/api/conversations/{conversation.id}/").json()
        assert body["id"] == conversation.id and body["status"] == "handed_off"
        assert body["contact"]["wa_id"] == "15550001111"

    def test_unknown_id_is_404(self, alpha, inbox):
        client = api_client(alpha)
        assert_error_body(client.get("/api/conversations/987654/"), 404, "not_found")
        assert_error_body(client.get("/api/conversations/99999999999999999999/"), 404, "not_found")


class TestMessageList:
    def test_oldest_first(self, alpha, inbox):
        m = inbox["messages"]
        conversation = inbox["conversations"]["asha"]
        response = api_client(alpha).get(f"/api/conversations/{conversation.id}/messages/")
        assert ids(response) == [m["hello"].id, m["reply"].id, m["button"].id, m["failed"].id]
        assert response.json()["count"] == 4

    def test_only_this_conversations_messages(self, alpha, inbox):
        with schema_context(alpha.tenant.schema_name):
            other = make_message(inbox["conversations"]["bilal"], body="other", wamid="wamid.BILAL1")
        conversation = inbox["conversations"]["asha"]
        assert other.id not in ids(api_client(alpha).get(f"/api/conversations/{conversation.id}/messages/"))
        bilal = inbox["conversations"]["bilal"]
        assert ids(api_client(alpha).get(f"/api/conversations/{bilal.id}/messages/")) == [other.id]

    def test_filters_by_direction_type_status_and_time(self, alpha, inbox):
        m = inbox["messages"]
        url = f"/api/conversations/{inbox['conversations']['asha'].id}/messages/"
        client = api_client(alpha)
        assert ids(client.get(url, {"direction": "in"})) == [m["hello"].id, m["button"].id]
        assert ids(client.get(url, {"direction": "out"})) == [m["reply"].id, m["failed"].id]
        assert ids(client.get(url, {"type": "button_reply"})) == [m["button"].id]
        assert ids(client.get(f"{url}?type=text&type=interactive")) == [m["hello"].id, m["reply"].id, m["failed"].id]
        assert ids(client.get(url, {"status": "failed"})) == [m["failed"].id]
        assert ids(client.get(url, {"status": "read", "direction": "out"})) == [m["reply"].id]
        assert ids(client.get(url, {"wamid": "wamid.IN2"})) == [m["button"].id]
        after = (NOW - timedelta(hours=4, minutes=30)).isoformat()
        assert ids(client.get(url, {"timestamp_after": after})) == [m["button"].id, m["failed"].id]
        assert_error_body(client.get(url, {"direction": "sideways"}), 400, "validation_error")
        assert_error_body(client.get(url, {"status": "lost"}), 400, "validation_error")

    def test_paginated_25_a_page(self, alpha, inbox):
        conversation = inbox["conversations"]["dev"]
        with schema_context(alpha.tenant.schema_name):
            created = [
                make_message(conversation, body=f"#{i}", timestamp=NOW - timedelta(minutes=60 - i)).id
                for i in range(27)
            ]
        url = f"/api/conversations/{conversation.id}/messages/"
        client = api_client(alpha)
        first = client.get(url).json()
        assert first["count"] == 27 and [row["id"] for row in first["results"]] == created[:25]
        assert ids(client.get(url, {"page": 2})) == created[25:]

    def test_unknown_conversation_is_404(self, alpha, inbox):
        assert_error_body(api_client(alpha).get("/api/conversations/987654/messages/"), 404, "not_found")

    def test_query_count_does_not_grow_with_rows(self, alpha, inbox, django_assert_max_num_queries):
        conversation = inbox["conversations"]["dev"]
        url = f"/api/conversations/{conversation.id}/messages/"
        client = api_client(alpha)
        with schema_context(alpha.tenant.schema_name):
            make_message(conversation, body="one")
        with django_assert_max_num_queries(QUERY_BUDGET + 1) as few:
            assert len(ids(client.get(url))) == 1
        with schema_context(alpha.tenant.schema_name):
            for i in range(30):
                make_message(
                    conversation,
                    direction=Direction.OUTBOUND,
                    body=f"#{i}",
                    reaction_to_id=None,
                    media_status=MediaStatus.PENDING,
                    media_id=f"media-{i}",
                )
        with django_assert_max_num_queries(QUERY_BUDGET + 1) as many:
            assert len(ids(client.get(url))) == 25
        assert len(many.captured_queries) == len(few.captured_queries)


class TestMessageDetail:
    def test_outbound_failure_fields(self, alpha, inbox):
        message = inbox["messages"]["failed"]
        body = api_client(alpha).get(f"/api/messages/{message.id}/").json()
        assert body["id"] == message.id
        assert body["conversation_id"] == inbox["conversations"]["asha"].id
        assert body["direction"] == "out" and body["type"] == "text" and body["status"] == "failed"
        assert body["wamid"] == "wamid.OUT2" and body["idempotency_key"] == "reply-2"
        assert body["error_code"] == 131047
        assert body["error_title"] == "Re-engagement message"
        assert body["error_details"].startswith("Message failed to send")
        assert body["failed_at"] is not None and body["sent_at"] is not None
        assert body["delivered_at"] is None and body["read_at"] is None
        assert body["media_url"] is None and body["media_status"] == ""

    def test_outbound_delivery_timestamps(self, alpha, inbox):
        message = inbox["messages"]["reply"]
        body = api_client(alpha).get(f"/api/messages/{message.id}/").json()
        assert body["status"] == "read"
        for field in ("timestamp", "sent_at", "delivered_at", "read_at", "created_at", "updated_at"):
            assert body[field] is not None, field
        assert body["failed_at"] is None and body["error_code"] is None and body["error_title"] == ""
        assert body["payload"] == {"messaging_product": "whatsapp", "to": "919876543210", "type": "interactive"}

    def test_inbound_interactive_reply_fields(self, alpha, inbox):
        message = inbox["messages"]["button"]
        body = api_client(alpha).get(f"/api/messages/{message.id}/").json()
        assert body["direction"] == "in" and body["type"] == "button_reply" and body["status"] == "received"
        assert body["body"] == "Tuesday"
        assert body["payload_id"] == "day_tue" and body["payload_title"] == "Tuesday"
        assert body["payload"]["interactive"]["button_reply"]["id"] == "day_tue"
        assert body["wamid"] == "wamid.IN2" and body["context_wamid"] == "wamid.OUT1"
        assert body["idempotency_key"] is None and body["sent_by_id"] is None
        assert body["timestamp"] == (NOW - timedelta(hours=4)).isoformat().replace("+00:00", "Z")

    def test_downloaded_media_has_a_url_that_serves_the_file(self, alpha, inbox, settings, tmp_path):
        settings.MEDIA_ROOT = str(tmp_path)
        with schema_context(alpha.tenant.schema_name):
            message = make_message(
                inbox["conversations"]["bilal"],
                type=MessageType.IMAGE,
                body="my tooth",
                wamid="wamid.IMG1",
                media_id="1013859600285441",
                media_mime_type="image/jpeg",
                media_filename="tooth.jpg",
                media_sha256="abc123",
                media_status=MediaStatus.DOWNLOADED,
            )
            message.media_file.save("tooth.jpg", ContentFile(b"\xff\xd8\xff jpeg bytes"), save=True)
        client = api_client(alpha)
        body = client.get(f"/api/messages/{message.id}/").json()
        assert body["media_id"] == "1013859600285441" and body["media_mime_type"] == "image/jpeg"
        assert body["media_filename"] == "tooth.jpg" and body["media_status"] == "downloaded"
        assert body["media_url"] == f"http://alpha.test/api/messages/{message.id}/media/"

        download = client.get(body["media_url"], HTTP_ACCEPT="image/jpeg")
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == b"\xff\xd8\xff jpeg bytes"
        assert download["Content-Type"] == "image/jpeg"
        assert download["Content-Disposition"] == 'attachment; filename="tooth.jpg"'
        # The file sits behind the API's authentication like everything else.
        assert Client(HTTP_HOST="alpha.test").get(body["media_url"]).status_code == 401

    def test_media_not_downloaded_yet_has_no_url(self, alpha, inbox):
        with schema_context(alpha.tenant.schema_name):
            message = make_message(
                inbox["conversations"]["bilal"],
                type=MessageType.DOCUMENT,
                wamid="wamid.DOC1",
                media_id="555",
                media_mime_type="application/pdf",
                media_status=MediaStatus.PENDING,
            )
        client = api_client(alpha)
        body = client.get(f"/api/messages/{message.id}/").json()
        assert body["media_status"] == "pending" and body["media_url"] is None
        assert_error_body(client.get(f"/api/messages/{message.id}/media/"), 404, "not_found")

    def test_unknown_id_is_404_and_the_route_is_read_only(self, alpha, inbox):
        client = api_client(alpha)
        assert_error_body(client.get("/api/messages/987654/"), 404, "not_found")
        message = inbox["messages"]["hello"]
        assert client.post(f"/api/messages/{message.id}/", {}, content_type="application/json").status_code == 405
        assert client.delete(f"/api/messages/{message.id}/").status_code == 405


class TestContacts:
    def test_list_newest_first_with_both_keys_and_conversation(self, alpha, inbox):
        with schema_context(alpha.tenant.schema_name):
            lonely = make_contact(wa_id="33612345678", name="No Chat Yet")
        response = api_client(alpha).get("/api/contacts/")
        asha, bilal, chen, dev = inbox["contacts"]
        assert ids(response) == [lonely.id, dev.id, chen.id, bilal.id, asha.id]
        rows = {row["id"]: row for row in response.json()["results"]}
        assert rows[lonely.id]["conversation_id"] is None
        assert rows[chen.id]["conversation_id"] == inbox["conversations"]["chen"].id
        assert rows[chen.id]["wa_id"] is None and rows[chen.id]["user_id"] == "US.13491208655302741918"
        assert rows[asha.id]["wa_id"] == "919876543210" and rows[asha.id]["user_id"] is None

    def test_search_and_filters(self, alpha, inbox):
        asha, bilal, chen, dev = inbox["contacts"]
        with schema_context(alpha.tenant.schema_name):
            Contact.objects.filter(pk=bilal.pk).update(opted_out_at=NOW)
        client = api_client(alpha)
        assert ids(client.get("/api/contacts/", {"q": "rao"})) == [asha.id]
        assert ids(client.get("/api/contacts/", {"q": "+1 555 000"})) == [bilal.id]
        assert ids(client.get("/api/contacts/", {"q": "us.134"})) == [chen.id]
        assert ids(client.get("/api/contacts/", {"wa_id": "+447700900123"})) == [dev.id]
        assert ids(client.get("/api/contacts/", {"user_id": "US.13491208655302741918"})) == [chen.id]
        assert ids(client.get("/api/contacts/", {"opted_out": "true"})) == [bilal.id]
        assert ids(client.get("/api/contacts/", {"opted_out": "false"})) == [dev.id, chen.id, asha.id]

    def test_paginated_25_a_page(self, alpha, db):
        with schema_context(alpha.tenant.schema_name):
            for i in range(26):
                make_contact(wa_id=f"9300000000{i:02d}")
        client = api_client(alpha)
        first = client.get("/api/contacts/").json()
        assert first["count"] == 26 and len(first["results"]) == 25
        assert len(client.get("/api/contacts/", {"page": 2}).json()["results"]) == 1

    def test_detail(self, alpha, inbox):
        chen = inbox["contacts"][2]
        body = api_client(alpha).get(f"/api/contacts/{chen.id}/").json()
        assert body == {
            "id": chen.id,
            "wa_id": None,
            "user_id": "US.13491208655302741918",
            "profile_name": "Chen Wei",
            "last_inbound_at": None,
            "opted_out_at": None,
            "conversation_id": inbox["conversations"]["chen"].id,
            "created_at": body["created_at"],
        }
        assert_error_body(api_client(alpha).get("/api/contacts/987654/"), 404, "not_found")

    def test_query_count_does_not_grow_with_rows(self, alpha, db, django_assert_max_num_queries):
        client = api_client(alpha)
        with schema_context(alpha.tenant.schema_name):
            make_conversation(make_contact(wa_id="940000000999"))
        with django_assert_max_num_queries(QUERY_BUDGET) as few:
            assert len(ids(client.get("/api/contacts/"))) == 1
        with schema_context(alpha.tenant.schema_name):
            for i in range(30):
                make_conversation(make_contact(wa_id=f"9500000000{i:02d}"))
        with django_assert_max_num_queries(QUERY_BUDGET) as many:
            assert len(ids(client.get("/api/contacts/"))) == 25
        assert len(many.captured_queries) == len(few.captured_queries)


LIST_URLS = ["/api/contacts/", "/api/conversations/"]


class TestAuthentication:
    @pytest.mark.parametrize("url", LIST_URLS)
    def test_api_key(self, alpha, inbox, url):
        assert api_client(alpha).get(url).status_code == 200

    @pytest.mark.parametrize("url", LIST_URLS)
    def test_session(self, alpha, inbox, url):
        assert len(ids(tenant_client(alpha, login=True).get(url))) >= 4

    def test_jwt(self, alpha, inbox):
        client = Client(HTTP_HOST=alpha.domain.domain)
        tokens = client.post(
            "/api/auth/token/",
            {"username": alpha.owner_email, "password": "alpha-password"},
            content_type="application/json",
        ).json()
        conversation = inbox["conversations"]["asha"]
        response = client.get(
            f"/api/conversations/{conversation.id}/messages/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}"
        )
        assert len(ids(response)) == 4

    def test_unauthenticated_is_401_with_the_error_body(self, alpha, inbox):
        client = Client(HTTP_HOST=alpha.domain.domain)
        message = inbox["messages"]["hello"]
        for url in [*LIST_URLS, f"/api/messages/{message.id}/", f"/api/contacts/{inbox['contacts'][0].id}/"]:
            body = assert_error_body(client.get(url), 401, "not_authenticated")
            assert body["fields"] == {}

    def test_another_tenants_key_is_refused(self, alpha, beta, inbox):
        client = Client(HTTP_HOST=alpha.domain.domain, HTTP_AUTHORIZATION=f"Bearer {beta.api_key.raw_key}")
        conversation = inbox["conversations"]["asha"]
        for url in [*LIST_URLS, f"/api/conversations/{conversation.id}/messages/"]:
            assert_error_body(client.get(url), 401, "authentication_failed")


class TestTenantIsolation:
    @pytest.fixture
    def alpha_rows(self, alpha, beta, db):
        """One row of each kind in alpha, with ids that beta's schema does not have either."""
        pk = 1
        for schema in (alpha.tenant.schema_name, beta.tenant.schema_name):
            with schema_context(schema):
                for model in (Contact, Conversation, Message):
                    pk = max(pk, (model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1)
        with schema_context(alpha.tenant.schema_name):
            contact = Contact.objects.create(pk=pk, wa_id="919999999999", profile_name="Alpha Only")
            conversation = Conversation.objects.create(pk=pk, contact=contact, phone_number_id=PHONE_NUMBER_ID)
            message = make_message(conversation, pk=pk, wamid=f"wamid.ALPHAONLY{pk}")
        return {"contact": contact, "conversation": conversation, "message": message}

    @pytest.mark.parametrize(
        "template",
        [
            "/api/contacts/{contact}/",
            "/api/conversations/{conversation}/",
            "/api/conversations/{conversation}/messages/",
            "/api/messages/{message}/",
            "/api/messages/{message}/media/",
        ],
    )
    def test_alpha_ids_are_404_on_betas_host(self, alpha, beta, alpha_rows, template):
        url = template.format(**{kind: row.pk for kind, row in alpha_rows.items()})
        beta_client = api_client(beta)
        assert_error_body(beta_client.get(url), 404, "not_found")
        if not url.endswith("/media/"):
            assert api_client(alpha).get(url).status_code == 200

    def test_lists_on_betas_host_do_not_show_alphas_rows(self, alpha, beta, alpha_rows):
        beta_client = api_client(beta)
        assert alpha_rows["conversation"].pk not in ids(beta_client.get("/api/conversations/"))
        assert alpha_rows["contact"].pk not in ids(beta_client.get("/api/contacts/"))
        assert ids(beta_client.get("/api/conversations/", {"wa_id": "919999999999"})) == []
        assert ids(beta_client.get("/api/contacts/", {"q": "Alpha Only"})) == []
