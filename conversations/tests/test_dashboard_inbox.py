"""The inbox pages and fragments: list, search, pagination, thread rendering, roles, composer."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from bizmitra.errors import NotFound
from conversations.choices import ConversationStatus, Direction, MessageStatus
from conversations.dashboard import selectors
from conversations.models import Contact, Conversation, ConversationActivity, HandoffEvent, Message
from tenants.services import owner_create
from tests.tenancy import ALPHA, tenant_client

XSS = "<img src=x onerror=alert(1)>"


def _conversation(*, name="Asha", wa_id=None, inbound_at=None, status=ConversationStatus.OPEN, agent=None):
    inbound_at = inbound_at or timezone.now()
    contact = Contact.objects.create(
        wa_id=wa_id or f"91{uuid.uuid4().int % 10**10:010d}", profile_name=name, last_inbound_at=inbound_at
    )
    return Conversation.objects.create(
        contact=contact,
        phone_number_id=ALPHA["phone_number_id"],
        status=status,
        assigned_agent=agent,
        last_message_at=inbound_at,
    )


def _message(conversation, *, direction=Direction.INBOUND, type="text", body="hello", at=None, **extra):
    at = at or timezone.now()
    status = MessageStatus.RECEIVED if direction == Direction.INBOUND else extra.pop("status", MessageStatus.SENT)
    message = Message.objects.create(
        conversation=conversation,
        direction=direction,
        type=type,
        body=body,
        wamid=extra.pop("wamid", f"wamid.{uuid.uuid4().hex}"),
        status=status,
        timestamp=at,
        **extra,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=at)
    return message


def _login(onboarding, email, password):
    client = tenant_client(onboarding)
    assert client.post("/login/", {"username": email, "password": password}).status_code == 302
    return client


@pytest.fixture
def owner(alpha, db):
    return tenant_client(alpha, login=True)


@pytest.fixture
def agent_user(alpha, db):
    with schema_context("alpha"):
        return owner_create(email=f"agent-{uuid.uuid4().hex[:6]}@alpha.test", password="agent-password", is_owner=False)


@pytest.fixture
def agent(alpha, agent_user):
    return _login(alpha, agent_user.email, "agent-password")


def test_list_shows_contact_snippet_unread_and_badges(alpha, owner):
    with schema_context("alpha"):
        c = _conversation(name="Ravi Kumar")
        _message(c, body="Do you deliver to Pune?")
        _message(c, body="Tomorrow?")
        failed = _conversation(name="Meena")
        _message(
            failed, direction=Direction.OUTBOUND, body="Hi", status=MessageStatus.FAILED, error_title="Undeliverable"
        )
    page = owner.get("/").content.decode()
    assert "Ravi Kumar" in page and "Tomorrow?" in page
    assert 'aria-label="2 unread"' in page
    assert "Failed send" in page and "Bot" in page and "left</span>" in page


def test_filters_and_search(alpha, owner):
    with schema_context("alpha"):
        handed = _conversation(name="Handed Person", status=ConversationStatus.HANDED_OFF)
        _message(handed, body="need a human")
        bot = _conversation(name="Bot Person")
        _message(bot, body="order status of 4411 please")
        out = _conversation(name="Gone Person")
        Contact.objects.filter(pk=out.contact_id).update(opted_out_at=timezone.now())
    handed_page = owner.get("/?filter=handed_off").content.decode()
    assert "Handed Person" in handed_page and "Bot Person" not in handed_page
    assert "Gone Person" in owner.get("/?filter=opted_out").content.decode()
    # Message text, name and number.
    assert "Bot Person" in owner.get("/?q=4411").content.decode()
    assert "Handed Person" in owner.get("/?q=handed").content.decode()
    with schema_context("alpha"):
        number = bot.contact.wa_id
    assert "Bot Person" in owner.get(f"/?q=%2B{number[:2]}+{number[2:9]}").content.decode()
    assert owner.get("/?filter=nonsense").status_code == 200  # unknown filter falls back to all


def test_cursor_pagination_neither_skips_nor_repeats_while_messages_arrive(alpha, db):
    from django.contrib.auth import get_user_model

    with schema_context("alpha"):
        user = get_user_model().objects.get(email=ALPHA["owner_email"])
        base = timezone.now() - timedelta(hours=1)
        ids = []
        for i in range(7):
            c = _conversation(name=f"P{i}", inbound_at=base + timedelta(minutes=i))
            ids.append(c.pk)
        first, cursor = selectors.inbox_page(user=user, limit=3)
        assert [c.pk for c in first] == ids[::-1][:3]
        # A new message moves an already-seen-below conversation to the top.
        Conversation.objects.filter(pk=ids[0]).update(last_message_at=timezone.now())
        seen = [c.pk for c in first]
        while cursor:
            page, cursor = selectors.inbox_page(user=user, limit=3, cursor=cursor)
            seen += [c.pk for c in page]
        # No repeats; every conversation that was below the cursor is still reached.
        assert len(seen) == len(set(seen))
        assert set(ids[1:]) <= set(seen)
        # The moved conversation is at the top of a fresh first page.
        assert selectors.inbox_page(user=user, limit=3)[0][0].pk == ids[0]


def test_broken_cursor_is_a_clear_4xx(owner):
    response = owner.get("/?fragment=rows&cursor=%%%", HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "broken" in response["HX-Trigger"]


def test_list_query_count_does_not_grow_with_rows(alpha, owner):
    with schema_context("alpha"):
        for i in range(3):
            _message(_conversation(name=f"Q{i}"), body="x")
    with CaptureQueriesContext(connection) as small:
        owner.get("/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="conversation-list")
    with schema_context("alpha"):
        for i in range(12):
            _message(_conversation(name=f"R{i}"), body="y")
    with CaptureQueriesContext(connection) as large:
        owner.get("/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="conversation-list")
    assert len(large) == len(small)
    assert len(large) <= 12


def test_thread_renders_every_type_escaped(alpha, owner):
    with schema_context("alpha"):
        c = _conversation(name=XSS)
        menu = _message(
            c,
            direction=Direction.OUTBOUND,
            type="interactive",
            body="Pick one",
            payload={
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick one"},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "Prices"}}]},
                },
            },
        )
        _message(c, type="button_reply", body="Prices", payload_title="Prices", context_wamid=menu.wamid)
        _message(c, body=f"see https://example.com/x {XSS}")
        _message(
            c, type="location", body="", payload={"location": {"latitude": 18.5, "longitude": 73.8, "name": "Shop"}}
        )
        _message(
            c,
            type="contacts",
            body="",
            payload={"contacts": [{"name": {"formatted_name": "Sam"}, "phones": [{"phone": "+1 555"}]}]},
        )
        _message(c, type="document", body="", media_filename="invoice.pdf", media_mime_type="application/pdf")
        _message(c, type="system", body="Customer changed number")
        _message(c, type="unsupported", body="", payload={"errors": [{"title": "Message type unknown"}]})
        target = _message(c, direction=Direction.OUTBOUND, body="Thanks!", status=MessageStatus.READ)
        _message(c, type="reaction", body="👍", reaction_to=target)
        _message(
            c,
            direction=Direction.OUTBOUND,
            body="lost",
            status=MessageStatus.FAILED,
            error_title="Re-engagement message",
            error_code=131047,
        )
        cid = c.pk
    page = owner.get(f"/c/{cid}/").content.decode()
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="https://example.com/x"' in page
    assert "Answered" in page and "Tapped <strong>Prices</strong>" in page
    assert "openstreetmap.org" in page and "Sam" in page and "invoice.pdf" in page
    assert "Customer changed number" in page and "Message type unknown" in page
    assert 'class="msg__reactions"' in page and "👍" in page
    assert "tick--read" in page
    assert "Re-engagement message (131047)" in page and "Retry" in page


def test_thread_query_count_is_bounded(alpha, owner):
    with schema_context("alpha"):
        c = _conversation()
        for i in range(30):
            _message(c, direction=Direction.OUTBOUND if i % 2 else Direction.INBOUND, body=f"m{i}")
        cid = c.pk
    with CaptureQueriesContext(connection) as queries:
        response = owner.get(f"/c/{cid}/thread/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert len(queries) <= 16, [q["sql"][:80] for q in queries]


def test_agent_sees_own_and_unassigned_only(alpha, agent_user, agent):
    with schema_context("alpha"):
        from django.contrib.auth import get_user_model

        other = get_user_model().objects.get(email=ALPHA["owner_email"])
        mine = _conversation(name="Mine Person", agent=agent_user)
        free = _conversation(name="Free Person")
        theirs = _conversation(name="Theirs Person", agent=other)
    page = agent.get("/").content.decode()
    assert "Mine Person" in page and "Free Person" in page and "Theirs Person" not in page
    assert agent.get(f"/c/{theirs.pk}/").status_code == 404
    assert agent.get(f"/c/{theirs.pk}/row/", HTTP_HX_REQUEST="true").status_code == 404
    assert agent.post(f"/c/{theirs.pk}/send/", {"text": "hi", "idempotency_key": "k"}).status_code == 404
    assert agent.get(f"/c/{mine.pk}/").status_code == 200 and agent.get(f"/c/{free.pk}/").status_code == 200
    # No settings or admin in the navigation, and the settings page refuses.
    assert "<span>Settings</span>" not in page and "<span>Admin</span>" not in page
    assert agent.get("/soon/settings/").status_code == 403


def test_opening_marks_read_once(alpha, owner, graph_sandbox, settings):
    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    with schema_context("alpha"):
        c = _conversation()
        m = _message(c, body="hi")
    owner.get(f"/c/{c.pk}/")
    owner.get(f"/c/{c.pk}/")
    with schema_context("alpha"):
        m.refresh_from_db()
        assert m.read_at is not None
        assert selectors.inbox_page(user=_owner_user(), filter_name="all")[0][0].unread == 0


def _owner_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(email=ALPHA["owner_email"])


def test_composer_rejects_empty_and_too_long_text(alpha, owner):
    with schema_context("alpha"):
        c = _conversation()
        _message(c)
    empty = owner.post(f"/c/{c.pk}/send/", {"text": "  ", "idempotency_key": "k1"}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422 and "Write a message first." in empty.content.decode()
    long = owner.post(f"/c/{c.pk}/send/", {"text": "x" * 4097, "idempotency_key": "k2"}, HTTP_HX_REQUEST="true")
    assert long.status_code == 422 and "4,096" in long.content.decode()
    with schema_context("alpha"):
        assert not c.messages.filter(direction=Direction.OUTBOUND).exists()


def test_same_submit_twice_sends_one_message(alpha, owner):
    with schema_context("alpha"):
        c = _conversation()
        _message(c)
    for _ in range(2):
        response = owner.post(
            f"/c/{c.pk}/send/", {"text": "On my way", "idempotency_key": "same-key"}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        assert "On my way" in response.content.decode()
    with schema_context("alpha"):
        assert c.messages.filter(direction=Direction.OUTBOUND).count() == 1
        c.refresh_from_db()
        assert c.status == ConversationStatus.HANDED_OFF  # an agent reply takes over


def test_outside_window_composer_offers_templates_and_refuses_text(alpha, owner):
    with schema_context("alpha"):
        c = _conversation(inbound_at=timezone.now() - timedelta(hours=30))
        _message(c, at=timezone.now() - timedelta(hours=30))
    page = owner.get(f"/c/{c.pk}/").content.decode()
    assert "The 24-hour window is closed" in page
    response = owner.post(f"/c/{c.pk}/send/", {"text": "hello", "idempotency_key": "w1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422


def test_send_to_opted_out_contact_is_refused(alpha, owner):
    with schema_context("alpha"):
        c = _conversation()
        _message(c)
        Contact.objects.filter(pk=c.contact_id).update(opted_out_at=timezone.now())
    page = owner.get(f"/c/{c.pk}/").content.decode()
    assert "opted out of messages" in page
    response = owner.post(f"/c/{c.pk}/send/", {"text": "hello", "idempotency_key": "o1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    with schema_context("alpha"):
        assert not c.messages.filter(direction=Direction.OUTBOUND).exists()


def test_stale_page_cannot_reply_after_someone_else_took_it(alpha, owner, agent_user):
    with schema_context("alpha"):
        c = _conversation()
        _message(c)
        Conversation.objects.filter(pk=c.pk).update(assigned_agent=agent_user, status=ConversationStatus.HANDED_OFF)
    response = owner.post(
        f"/c/{c.pk}/send/", {"text": "hello", "idempotency_key": "s1", "expected_assignee": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert "just took this conversation" in response.content.decode()
    with schema_context("alpha"):
        assert not c.messages.filter(direction=Direction.OUTBOUND).exists()


def test_actions_are_recorded_with_who_and_when(alpha, owner, agent_user):
    with schema_context("alpha"):
        c = _conversation()
        _message(c)
    assert owner.post(f"/c/{c.pk}/action/take_over/", HTTP_HX_REQUEST="true").status_code == 200
    assert owner.post(f"/c/{c.pk}/action/return_to_bot/", HTTP_HX_REQUEST="true").status_code == 200
    assert (
        owner.post(f"/c/{c.pk}/action/assign/", {"assignee": agent_user.pk}, HTTP_HX_REQUEST="true").status_code == 200
    )
    assert owner.post(f"/c/{c.pk}/action/label/", {"label": "vip"}, HTTP_HX_REQUEST="true").status_code == 200
    assert owner.post(f"/c/{c.pk}/action/resolve/", HTTP_HX_REQUEST="true").status_code == 200
    note = owner.post(f"/c/{c.pk}/note/", {"text": "Called them", "idempotency_key": "n1"}, HTTP_HX_REQUEST="true")
    assert note.status_code == 200
    with schema_context("alpha"):
        kinds = list(ConversationActivity.objects.filter(conversation=c).values_list("kind", flat=True))
        assert kinds == ["assign", "label_add", "resolve", "note"]
        assert list(HandoffEvent.objects.filter(conversation=c).order_by("at").values_list("action", flat=True)) == [
            "handoff",
            "return",
        ]
        assert not c.messages.filter(direction=Direction.OUTBOUND).exists()  # notes are never sent
    page = owner.get(f"/c/{c.pk}/").content.decode()
    assert "Private note" in page and "Called them" in page and "resolved the conversation" in page
    assert "took over" in page and "returned it to the bot" in page
    assert "Resolved" in owner.get("/?filter=resolved").content.decode()


def test_catchup_lists_changes_since_a_time(alpha, owner):
    before = timezone.now().timestamp()
    with schema_context("alpha"):
        c = _conversation()
        m = _message(c, body="while you were away")
    data = owner.get(f"/inbox/catchup/?since={before}&c={c.pk}").json()
    assert c.pk in data["conversations"] and m.pk in data["messages"]
    assert owner.get("/inbox/catchup/?since=nope").status_code == 422


def test_template_picker_form_and_missing_variable(alpha, owner):
    from templates.choices import TemplateKind
    from templates.models import MessageTemplate

    with schema_context("alpha"):
        template = MessageTemplate.objects.create(
            name="Reminder",
            kind=TemplateKind.META_TEMPLATE,
            meta_name=f"reminder_{uuid.uuid4().hex[:6]}",
            meta_language="en",
            meta_status="APPROVED",
            body="Hi {{1}}, see you {{2}}",
            meta_components=[{"type": "BODY", "text": "Hi {{1}}, see you {{2}}"}],
        )
        c = _conversation(name="Old One", inbound_at=timezone.now() - timedelta(hours=30))
    form = owner.get(f"/c/{c.pk}/template-form/?template={template.key}", HTTP_HX_REQUEST="true")
    page = form.content.decode()
    assert form.status_code == 200 and "Variable {{1}}" in page and "Hi {{1}}, see you {{2}}" in page
    preview = owner.get(
        f"/c/{c.pk}/template-form/?template={template.key}&var_1=Ann&var_2=soon&preview_only=1", HTTP_HX_REQUEST="true"
    )
    assert "Hi Ann, see you soon" in preview.content.decode()
    missing = owner.post(
        f"/c/{c.pk}/template/",
        {"template": template.key, "var_1": "Ann", "var_2": "", "idempotency_key": "t1"},
        HTTP_HX_REQUEST="true",
    )
    assert missing.status_code == 422 and "{{2}}" in missing.content.decode()
    with schema_context("alpha"):
        assert not c.messages.exists()


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_attachment_is_uploaded_to_graph_and_sent_by_media_id(alpha, owner, graph_sandbox, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    with schema_context("alpha"):
        c = _conversation(name="Photo Person")
        _message(c)
    upload = SimpleUploadedFile("shelf.png", PNG, content_type="image/png")
    response = owner.post(
        f"/c/{c.pk}/attach/", {"file": upload, "caption": "Our shelf", "idempotency_key": "f1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200, response.content.decode()[:300]
    with schema_context("alpha"):
        sent = c.messages.get(direction=Direction.OUTBOUND)
        assert (
            sent.type == "image"
            and sent.media_id
            and sent.payload["image"] == {"id": sent.media_id, "caption": "Our shelf"}
        )
        assert sent.media_file.read() == PNG
    # The thread shows our copy, served only to the team.
    media = owner.get(f"/c/{c.pk}/media/{sent.pk}/")
    assert media.status_code == 200 and media["Content-Type"] == "image/png"
    assert b"".join(media.streaming_content) == PNG
    assert tenant_client(alpha).get(f"/c/{c.pk}/media/{sent.pk}/").status_code == 302  # signed out: login


def test_attachment_limits_are_meta_limits(alpha, owner):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with schema_context("alpha"):
        c = _conversation()
        _message(c)
    exe = SimpleUploadedFile("tool.exe", b"MZ" * 10, content_type="application/x-msdownload")
    refused = owner.post(f"/c/{c.pk}/attach/", {"file": exe, "idempotency_key": "f2"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and "does not accept this file type" in refused.content.decode()
    big = SimpleUploadedFile("big.jpg", b"\xff" * (5 * 1024 * 1024 + 1), content_type="image/jpeg")
    too_big = owner.post(f"/c/{c.pk}/attach/", {"file": big, "idempotency_key": "f3"}, HTTP_HX_REQUEST="true")
    assert too_big.status_code == 422 and "up to 5 MB" in too_big.content.decode()
    with schema_context("alpha"):
        assert not c.messages.filter(direction=Direction.OUTBOUND).exists()


def test_an_attachment_is_judged_by_its_bytes_not_its_declared_type(alpha, owner, graph_sandbox, settings):
    """The composer goes through media_upload_for_send: a program named photo.jpg is refused."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url
    with schema_context("alpha"):
        c = _conversation()
        _message(c)
    disguised = SimpleUploadedFile("photo.jpg", b"MZ\x90\x00" + b"\x00" * 200, content_type="image/jpeg")
    refused = owner.post(f"/c/{c.pk}/attach/", {"file": disguised, "idempotency_key": "f4"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422, refused.content.decode()[:300]
    assert "cannot be sent" in refused.content.decode() or "does not take" in refused.content.decode()
    with schema_context("alpha"):
        assert not c.messages.filter(direction=Direction.OUTBOUND).exists()


def test_read_selectors_apply_the_agent_rule_when_given_a_user(alpha, agent_user):
    from conversations import selectors as read

    with schema_context("alpha"):
        boss = _owner_user()
        theirs = _conversation(name="Boss Only", agent=boss)
        message = _message(theirs)
        free = _conversation(name="Anyone")
        assert theirs in read.conversation_list() and theirs in read.conversation_list(user=boss)
        visible = list(read.conversation_list(user=agent_user))
        assert free in visible and theirs not in visible
        with pytest.raises(NotFound):
            read.conversation_get(conversation_id=theirs.pk, user=agent_user)
        with pytest.raises(NotFound):
            read.message_get(message_id=message.pk, user=agent_user)
        assert read.message_get(message_id=message.pk).pk == message.pk


def test_contact_panel_shows_the_lead_with_a_link(alpha, owner):
    from leads.models import Lead

    with schema_context("alpha"):
        c = _conversation(name="Lead Person")
        _message(c)
        lead = Lead.objects.create(contact=c.contact, name="Lead Person", source="whatsapp", score=42)
    page = owner.get(f"/c/{c.pk}/").content.decode()
    assert "Score</dt><dd>42</dd>" in page
    assert f'href="/leads/{lead.pk}/"' in page
