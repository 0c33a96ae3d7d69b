"""Tests for the lossless webhook parser, one per Meta payload shape (fixtures: tests/fixtures/whatsapp)."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from conversations.tests.whatsapp_unit.fixtures import FIXTURES_DIR, load_fixture
from conversations.whatsapp.parsing import (
    MESSAGE_TYPES,
    InboundContact,
    InboundMessage,
    MalformedWebhook,
    MediaRef,
    ParsedWebhook,
    StatusUpdate,
    UnroutedChange,
    WebhookError,
    parse_webhook,
)

PNID = "106540352242922"
PNID2 = "106540352242923"
WABA = "102290129340398"
USER = "16505551234"
BSUID = "US.13491208655302741918"
BIZ_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"


def only_message(name: str) -> InboundMessage:
    parsed = parse_webhook(load_fixture(name))
    assert len(parsed.messages) == 1
    assert (parsed.statuses, parsed.errors, parsed.other_changes) == ([], [], [])
    return parsed.messages[0]


def only_status(name: str) -> StatusUpdate:
    parsed = parse_webhook(load_fixture(name))
    assert len(parsed.statuses) == 1
    assert (parsed.messages, parsed.errors, parsed.other_changes) == ([], [], [])
    return parsed.statuses[0]


# --- envelope ---------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, [], "text", 3, b"{}"])
def test_non_dict_payload_is_malformed(payload: object) -> None:
    with pytest.raises(MalformedWebhook) as excinfo:
        parse_webhook(payload)  # type: ignore[arg-type]
    assert "not a JSON object" in excinfo.value.reason


@pytest.mark.parametrize("obj", [None, "page", "instagram", ""])
def test_other_object_is_malformed(obj: object) -> None:
    payload = load_fixture("message__text")
    payload["object"] = obj
    with pytest.raises(MalformedWebhook, match="whatsapp_business_account"):
        parse_webhook(payload)


def test_every_fixture_parses_without_losing_an_item() -> None:
    names = sorted(p.stem for p in FIXTURES_DIR.glob("*.json"))
    assert len(names) >= 24
    for name in names:
        parsed = parse_webhook(load_fixture(name))
        total = len(parsed.messages) + len(parsed.statuses) + len(parsed.errors) + len(parsed.other_changes)
        assert total >= 1, name


def test_items_are_frozen() -> None:
    message = only_message("message__text")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.text = "changed"  # type: ignore[misc]


# --- inbound message types --------------------------------------------------------------


def test_text_message() -> None:
    message = only_message("message__text")
    assert message.type == "text"
    assert message.text == "Does it come in another color?"
    assert message.phone_number_id == PNID
    assert message.display_phone_number == "15550783881"
    assert message.waba_id == WABA
    assert message.wamid.startswith("wamid.")
    assert message.timestamp == 1749416383
    assert message.contact == InboundContact(wa_id=USER, user_id=BSUID, profile_name="Sheena Nelson")
    assert message.media is None
    assert message.context_wamid == ""
    assert message.raw["text"] == {"body": "Does it come in another color?"}


def test_interactive_button_reply() -> None:
    message = only_message("message__button_reply")
    assert message.type == "button_reply"
    assert (message.payload_id, message.payload_title, message.text) == ("change-button", "Change", "Change")
    assert message.context_wamid == BIZ_WAMID


def test_interactive_list_reply_keeps_description_in_raw() -> None:
    message = only_message("message__list_reply")
    assert message.type == "list_reply"
    assert message.payload_id == "priority_express"
    assert message.payload_title == message.text == "Express Shipping"
    assert message.raw["interactive"]["list_reply"]["description"] == "Next Day to 2 Days"
    assert message.context_wamid == BIZ_WAMID


def test_template_quick_reply_button() -> None:
    message = only_message("message__template_button")
    assert message.type == "button"
    assert message.payload_id == "unsubscribe-promos"
    assert message.payload_title == message.text == "Stop promotions"
    assert message.context_wamid == BIZ_WAMID


def test_image_message() -> None:
    message = only_message("message__image")
    assert message.type == "image"
    assert message.text == "Is this the right plant?"
    assert message.media == MediaRef(
        media_id="1003383421387256",
        mime_type="image/jpeg",
        sha256="kOFOr0ALZNRHjCoEfXvd9LZr5uNv7FT7uLRkOFOr0AL=",
        caption="Is this the right plant?",
        url=message.raw["image"]["url"],
    )
    assert message.media.url.startswith("https://lookaside.fbsbx.com/")


def test_document_message_has_filename_and_caption() -> None:
    message = only_message("message__document")
    assert message.type == "document"
    assert message.media is not None
    assert message.media.filename == "lucky-shrub-invoice.pdf"
    assert message.media.mime_type == "application/pdf"
    assert message.media.caption == message.text == "Lucky Shrub Invoice"


def test_voice_note() -> None:
    message = only_message("message__audio_voice")
    assert message.type == "audio"
    assert message.media is not None
    assert message.media.voice is True
    assert message.media.mime_type == "audio/ogg; codecs=opus"
    assert message.text == ""


def test_video_message() -> None:
    message = only_message("message__video")
    assert message.type == "video"
    assert message.media is not None
    assert message.media.media_id == "1166846181421424"
    assert message.text == "Here is the damaged box"


def test_sticker_message() -> None:
    message = only_message("message__sticker")
    assert message.type == "sticker"
    assert message.media is not None
    assert message.media.mime_type == "image/webp"
    assert message.media.voice is False


def test_location_message() -> None:
    message = only_message("message__location")
    assert message.type == "location"
    assert message.location is not None
    assert message.location["latitude"] == 37.483307
    assert message.location["longitude"] == -122.148981
    assert message.text == "Meta Headquarters, 1 Hacker Way, Menlo Park, CA 94025"


def test_shared_contacts_message() -> None:
    message = only_message("message__contacts")
    assert message.type == "contacts"
    assert len(message.shared_contacts) == 1
    assert message.shared_contacts[0]["phones"][0]["wa_id"] == "14155550123"
    assert message.text == "Barbara J. Johnson"
    # The sender is still the contact from value.contacts, not the shared card.
    assert message.contact.wa_id == USER


def test_reaction_message() -> None:
    message = only_message("message__reaction")
    assert message.type == "reaction"
    assert message.reaction_to_wamid == BIZ_WAMID
    assert message.reaction_emoji == message.text == "\U0001f44d"


def test_removed_reaction_has_empty_emoji() -> None:
    payload = load_fixture("message__reaction")
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["emoji"]
    message = parse_webhook(payload).messages[0]
    assert message.type == "reaction"
    assert message.reaction_emoji == ""
    assert message.reaction_to_wamid == BIZ_WAMID


def test_order_message() -> None:
    message = only_message("message__order")
    assert message.type == "order"
    assert message.order is not None
    assert message.order["catalog_id"] == "194836987003835"
    assert len(message.order["product_items"]) == 2
    assert message.text == "Please deliver by Friday"


def test_system_user_changed_number_derives_contact_without_contacts_array() -> None:
    payload = load_fixture("message__system_user_changed_number")
    assert "contacts" not in payload["entry"][0]["changes"][0]["value"]
    message = only_message("message__system_user_changed_number")
    assert message.type == "system"
    assert message.system is not None
    assert message.system["type"] == "user_changed_number"
    assert message.system["wa_id"] == "12195555358"
    assert message.contact.wa_id == USER  # the old number: the one our records know
    assert message.contact.profile_name == "Sheena Nelson"
    assert message.text.startswith("User Sheena Nelson changed from")
    assert message.timestamp == 1739321024


def test_system_user_changed_user_id_keys_on_previous_bsuid() -> None:
    payload = load_fixture("message__system_user_changed_number")
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del raw["from"]
    raw["from_user_id"] = BSUID
    raw["system"] = {
        "body": f"User Sheena Nelson changed from {BSUID} to US.99999999999999999999",
        "user_id": "US.99999999999999999999",
        "type": "user_changed_user_id",
    }
    message = parse_webhook(payload).messages[0]
    assert message.type == "system"
    assert message.contact.user_id == BSUID
    assert message.contact.wa_id is None
    assert message.system is not None
    assert message.system["user_id"] == "US.99999999999999999999"


def test_system_message_without_sender_falls_back_to_system_fields() -> None:
    payload = load_fixture("message__system_user_changed_number")
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del raw["from"]
    raw["system"] = {"body": "", "wa_id": "12195555358", "previous_user_id": BSUID, "type": "user_changed_user_id"}
    message = parse_webhook(payload).messages[0]
    assert message.contact == InboundContact(wa_id="12195555358", user_id=BSUID)


def test_unsupported_message_keeps_errors_and_raw() -> None:
    message = only_message("message__unsupported")
    assert message.type == "unsupported"
    assert message.errors[0]["code"] == 131051
    assert message.raw["unsupported"] == {"type": "edit"}
    assert message.contact.wa_id == USER


def test_legacy_unknown_type_is_unsupported() -> None:
    message = only_message("message__unknown_legacy")
    assert message.type == "unsupported"
    assert message.raw["type"] == "unknown"
    assert message.errors == [
        {"code": 131051, "details": "Message type is not currently supported", "title": "Unsupported message type"}
    ]
    assert message.timestamp == 1673943918


@pytest.mark.parametrize("meta_type", ["poll_creation", "request_welcome", "", None])
def test_any_unknown_type_is_unsupported_not_an_error(meta_type: object) -> None:
    payload = load_fixture("message__text")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["type"] = meta_type
    message = parse_webhook(payload).messages[0]
    assert message.type == "unsupported"
    assert message.raw["text"] == {"body": "Does it come in another color?"}


def test_interactive_flow_reply_is_unsupported_with_raw() -> None:
    payload = load_fixture("message__button_reply")
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    raw["interactive"] = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{}"}}
    message = parse_webhook(payload).messages[0]
    assert message.type == "unsupported"
    assert message.raw["interactive"]["type"] == "nfm_reply"


def test_bsuid_only_sender_is_keyed_on_user_id() -> None:
    message = only_message("message__bsuid_no_wa_id")
    assert message.type == "text"
    assert message.contact.wa_id is None
    assert message.contact.user_id == BSUID
    assert message.contact.profile_name == "Sheena Nelson"
    assert message.contact.username == "@sheena"


def test_every_parsed_type_is_a_known_type() -> None:
    for path in FIXTURES_DIR.glob("message__*.json"):
        for message in parse_webhook(load_fixture(path.stem)).messages:
            assert message.type in MESSAGE_TYPES, path.stem


# --- statuses ---------------------------------------------------------------------------


def test_status_sent() -> None:
    status = only_status("status__sent")
    assert status.status == "sent"
    assert status.phone_number_id == PNID
    assert status.wamid.startswith("wamid.")
    assert status.timestamp == 1750263770
    assert status.recipient_id == USER
    assert status.biz_opaque_callback_data == "bizmitra:msg:42"
    assert status.error_code is None


def test_status_delivered_with_pricing_and_bsuid() -> None:
    status = only_status("status__delivered")
    assert status.status == "delivered"
    assert status.recipient_user_id == BSUID
    assert status.raw["pricing"]["pricing_model"] == "PMP"


def test_status_read() -> None:
    status = only_status("status__read")
    assert status.status == "read"
    assert status.timestamp == 1750263790
    assert status.wamid == only_status("status__sent").wamid


def test_status_failed_131047_carries_the_error() -> None:
    status = only_status("status__failed_131047")
    assert status.status == "failed"
    assert status.error_code == 131047
    assert status.error_title == "Re-engagement message"
    assert status.error_message == "Re-engagement message"
    assert "more than 24 hours" in status.error_details
    assert status.biz_opaque_callback_data == "bizmitra:msg:43"


def test_unknown_status_value_is_kept() -> None:
    payload = load_fixture("status__sent")
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    assert parse_webhook(payload).statuses[0].status == "deleted"


def test_played_status_is_kept() -> None:
    payload = load_fixture("status__read")
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "played"
    assert parse_webhook(payload).statuses[0].status == "played"


# --- errors and other changes -----------------------------------------------------------


def test_value_errors() -> None:
    parsed = parse_webhook(load_fixture("error__value_errors"))
    assert (parsed.messages, parsed.statuses, parsed.other_changes) == ([], [], [])
    assert parsed.errors == [
        WebhookError(
            phone_number_id=PNID,
            waba_id=WABA,
            code=130429,
            title="Rate limit hit",
            message="(#130429) Rate limit hit",
            details="Cloud API message throughput has been reached.",
            raw=parsed.errors[0].raw,
        )
    ]
    assert parsed.errors[0].raw["href"]
    assert parsed.phone_number_ids() == {PNID}


def test_template_status_update_is_kept_as_unrouted_change() -> None:
    parsed = parse_webhook(load_fixture("change__template_status_update"))
    assert (parsed.messages, parsed.statuses, parsed.errors) == ([], [], [])
    [change] = parsed.other_changes
    assert change.field == "message_template_status_update"
    assert change.waba_id == WABA
    assert change.raw["value"]["event"] == "APPROVED"
    assert parsed.phone_number_ids() == set()


# --- batches ----------------------------------------------------------------------------


def test_batch_counts_every_item_across_entries_and_changes() -> None:
    parsed = parse_webhook(load_fixture("batch__two_entries_two_numbers"))
    assert len(parsed.messages) == 4
    assert len(parsed.statuses) == 5
    assert len(parsed.errors) == 0
    assert len(parsed.other_changes) == 1
    assert parsed.phone_number_ids() == {PNID, PNID2}


def test_batch_items_keep_payload_order_and_their_own_number() -> None:
    parsed = parse_webhook(load_fixture("batch__two_entries_two_numbers"))
    assert [(m.phone_number_id, m.type) for m in parsed.messages] == [
        (PNID, "text"),
        (PNID, "text"),
        (PNID, "image"),
        (PNID2, "button_reply"),
    ]
    assert [(s.phone_number_id, s.status) for s in parsed.statuses] == [
        (PNID2, "sent"),
        (PNID2, "delivered"),
        (PNID, "delivered"),
        (PNID, "read"),
        (PNID, "failed"),
    ]
    assert parsed.statuses[-1].error_code == 131026
    assert parsed.other_changes[0].field == "message_template_status_update"
    assert len({m.wamid for m in parsed.messages}) == 4


def test_batch_matches_each_message_to_its_own_contact() -> None:
    parsed = parse_webhook(load_fixture("batch__two_entries_two_numbers"))
    assert [(m.contact.wa_id, m.contact.profile_name) for m in parsed.messages] == [
        (USER, "Sheena Nelson"),
        ("16505559876", "Ravi Kumar"),
        (USER, "Sheena Nelson"),
        ("16505559876", "Ravi Kumar"),
    ]


def test_one_value_with_messages_statuses_and_errors_keeps_all() -> None:
    payload = load_fixture("message__text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["statuses"] = load_fixture("status__sent")["entry"][0]["changes"][0]["value"]["statuses"]
    value["errors"] = load_fixture("error__value_errors")["entry"][0]["changes"][0]["value"]["errors"]
    parsed = parse_webhook(payload)
    assert (len(parsed.messages), len(parsed.statuses), len(parsed.errors)) == (1, 1, 1)


def test_a_thousand_updates_are_all_returned() -> None:
    payload = load_fixture("status__sent")
    template = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    statuses = []
    for index in range(1000):
        status = copy.deepcopy(template)
        status["id"] = f"wamid.{index}"
        statuses.append(status)
    payload["entry"][0]["changes"][0]["value"]["statuses"] = statuses
    assert [s.wamid for s in parse_webhook(payload).statuses] == [f"wamid.{i}" for i in range(1000)]


# --- odd shapes never raise and never drop ----------------------------------------------


def test_odd_shapes_inside_a_valid_envelope_are_kept() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            "not-an-entry",
            {"id": WABA},
            {"id": WABA, "changes": ["not-a-change", {"field": "messages", "value": None}]},
            {"id": WABA, "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": PNID}}}]},
            {
                "id": WABA,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": "garbage",
                            "contacts": "garbage",
                            "messages": [
                                "not-a-message",
                                {"id": "wamid.x", "type": "text", "timestamp": "soon"},
                                {"id": "wamid.y", "type": "image", "image": "garbage"},
                            ],
                            "statuses": {"id": "wamid.z", "status": "READ", "timestamp": 1750263790},
                        },
                    }
                ],
            },
        ],
    }
    parsed = parse_webhook(payload, received_at=1750263800)
    assert len(parsed.other_changes) == 5
    assert [m.type for m in parsed.messages] == ["unsupported", "text", "image"]
    assert parsed.messages[0].raw == {"unparsed": "not-a-message"}
    # An unreadable timestamp becomes the delivery's arrival, with a note (issue 13 §0).
    assert parsed.messages[1].timestamp == 1750263800
    assert parsed.messages[1].notes and "impossible timestamp" in parsed.messages[1].notes[0]
    assert parsed.messages[1].contact == InboundContact(wa_id=None, user_id=None)
    assert parsed.messages[2].media is None
    assert [(s.wamid, s.status, s.timestamp) for s in parsed.statuses] == [("wamid.z", "read", 1750263790)]


def test_missing_entry_list_is_kept_as_unrouted() -> None:
    parsed = parse_webhook({"object": "whatsapp_business_account"})
    assert parsed.other_changes == [UnroutedChange(field="", waba_id="", raw={"object": "whatsapp_business_account"})]


def test_contact_that_contradicts_the_sender_is_not_used() -> None:
    payload = load_fixture("message__text")
    payload["entry"][0]["changes"][0]["value"]["contacts"] = [
        {"profile": {"name": "Someone Else"}, "wa_id": "19995550000"}
    ]
    message = parse_webhook(payload).messages[0]
    assert message.contact == InboundContact(wa_id=USER, user_id=BSUID, profile_name="")


def test_empty_result_has_no_numbers() -> None:
    assert ParsedWebhook().phone_number_ids() == set()
