"""Tests for outbound Graph ``/messages`` bodies: one test per Meta limit, naming the field at fault."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bizmitra.graph_api.payloads import (
    FREE_FORM_TYPES,
    OUTSIDE_WINDOW_TYPES,
    SUPPORTED_TYPES,
    OutboundValidationError,
    build_mark_read_payload,
    build_message_payload,
    is_allowed_outside_window,
    normalize_recipient,
)

TO = "+16505551234"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEw0001RgA="
BSUID = "US.13491208655302741918"


def build(type_: str, content: Any, **kwargs: Any) -> dict[str, Any]:
    return build_message_payload(to=TO, type=type_, content=content, **kwargs)


def rejects(field: str, type_: str, content: Any, **kwargs: Any) -> OutboundValidationError:
    with pytest.raises(OutboundValidationError) as excinfo:
        build_message_payload(to=kwargs.pop("to", TO), type=type_, content=content, **kwargs)
    assert excinfo.value.field == field, excinfo.value
    return excinfo.value


def buttons_message(*titles: str, **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "button",
        "body": {"text": "Do you want to change your appointment?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"btn-{i}", "title": title}} for i, title in enumerate(titles)
            ]
        },
    }
    message.update(overrides)
    return message


def list_message(sections: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "list",
        "body": {"text": "Which shipping option do you prefer?"},
        "action": {
            "button": "Shipping Options",
            "sections": sections
            if sections is not None
            else [
                {
                    "title": "I want it ASAP!",
                    "rows": [
                        {"id": "priority_express", "title": "Express Shipping", "description": "Next Day to 2 Days"},
                        {"id": "priority_mail", "title": "Priority Mail", "description": "1-3 Days"},
                    ],
                }
            ],
        },
    }
    message.update(overrides)
    return message


def rows(count: int, prefix: str = "row") -> list[dict[str, str]]:
    return [{"id": f"{prefix}-{i}", "title": f"Option {i}"} for i in range(count)]


# --- envelope and recipient -------------------------------------------------------------


def test_text_payload_is_exactly_metas_shape() -> None:
    assert build("text", {"body": "Hello", "preview_url": False}) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"body": "Hello", "preview_url": False},
    }


def test_text_accepts_a_plain_string() -> None:
    assert build("text", "Hello")["text"] == {"body": "Hello"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+16505551234", "+16505551234"),
        ("16505551234", "+16505551234"),
        (" +1 (650) 555-1234 ", "+16505551234"),
        ("+91 98765 43210", "+919876543210"),
    ],
)
def test_phone_recipient_is_normalised_to_plus_digits(raw: str, expected: str) -> None:
    assert build_message_payload(to=raw, type="text", content="hi")["to"] == expected


@pytest.mark.parametrize("bsuid", [BSUID, "US.ENT.13491208655302741918"])
def test_bsuid_recipient_is_sent_as_recipient(bsuid: str) -> None:
    payload = build_message_payload(to=bsuid, type="text", content="hi")
    assert payload["recipient"] == bsuid
    assert "to" not in payload


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "hello", "+1234", "+1234567890123456", "+0165055512", "0016505551234", "us.1349", None, 16505551234],
)
def test_recipient_must_be_an_international_number_or_bsuid(bad: Any) -> None:
    with pytest.raises(OutboundValidationError) as excinfo:
        normalize_recipient(bad)
    assert excinfo.value.field == "to"


def test_unsupported_type_is_rejected() -> None:
    rejects("type", "carousel", {})


def test_context_quotes_a_message() -> None:
    assert build("text", "yes", context_wamid=WAMID)["context"] == {"message_id": WAMID}


def test_biz_opaque_callback_data_is_passed_through() -> None:
    assert build("text", "yes", biz_opaque_callback_data="msg:42")["biz_opaque_callback_data"] == "msg:42"


def test_biz_opaque_callback_data_max_512() -> None:
    assert build("text", "yes", biz_opaque_callback_data="x" * 512)
    rejects("biz_opaque_callback_data", "text", "yes", biz_opaque_callback_data="x" * 513)


def test_error_carries_field_and_reason() -> None:
    error = rejects("text.body", "text", {"body": ""})
    assert error.reason
    assert str(error).startswith("text.body: ")
    assert isinstance(error, ValueError)


def test_input_is_not_mutated_and_output_is_fresh() -> None:
    content = list_message()
    snapshot = copy.deepcopy(content)
    payload = build("interactive", content)
    assert content == snapshot
    payload["interactive"]["action"]["sections"][0]["rows"].clear()
    assert content == snapshot


# --- text -------------------------------------------------------------------------------


def test_text_body_max_4096() -> None:
    assert build("text", "x" * 4096)["text"]["body"] == "x" * 4096
    rejects("text.body", "text", "x" * 4097)


def test_text_body_required() -> None:
    rejects("text.body", "text", {"preview_url": True})
    rejects("text.body", "text", "   ")


def test_text_preview_url_must_be_boolean() -> None:
    rejects("text.preview_url", "text", {"body": "see https://example.com", "preview_url": "yes"})


def test_text_unknown_field_is_rejected() -> None:
    rejects("text.bdy", "text", {"bdy": "typo"})


# --- interactive reply buttons ----------------------------------------------------------


def test_reply_buttons_payload() -> None:
    content = buttons_message("Change", "Cancel", footer={"text": "Lucky Shrub"}, header={"type": "text", "text": "Hi"})
    assert build("interactive", content)["interactive"] == {
        "type": "button",
        "header": {"type": "text", "text": "Hi"},
        "body": {"text": "Do you want to change your appointment?"},
        "footer": {"text": "Lucky Shrub"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "btn-0", "title": "Change"}},
                {"type": "reply", "reply": {"id": "btn-1", "title": "Cancel"}},
            ]
        },
    }


def test_interactive_type_must_be_button_or_list() -> None:
    rejects("interactive.type", "interactive", buttons_message("A", type="cta_url"))


def test_at_most_3_buttons() -> None:
    assert build("interactive", buttons_message("A", "B", "C"))
    rejects("interactive.action.buttons", "interactive", buttons_message("A", "B", "C", "D"))


def test_at_least_1_button() -> None:
    rejects("interactive.action.buttons", "interactive", buttons_message())


def test_button_title_max_20() -> None:
    assert build("interactive", buttons_message("x" * 20))
    rejects("interactive.action.buttons[0].reply.title", "interactive", buttons_message("x" * 21))


def test_button_titles_unique() -> None:
    rejects("interactive.action.buttons[1].reply.title", "interactive", buttons_message("Yes", "Yes"))


def test_button_id_max_256() -> None:
    content = buttons_message("Yes")
    content["action"]["buttons"][0]["reply"]["id"] = "i" * 257
    rejects("interactive.action.buttons[0].reply.id", "interactive", content)
    content["action"]["buttons"][0]["reply"]["id"] = "i" * 256
    assert build("interactive", content)


def test_button_ids_unique() -> None:
    content = buttons_message("Yes", "No")
    content["action"]["buttons"][1]["reply"]["id"] = "btn-0"
    rejects("interactive.action.buttons[1].reply.id", "interactive", content)


def test_button_type_must_be_reply() -> None:
    content = buttons_message("Yes")
    content["action"]["buttons"][0]["type"] = "url"
    rejects("interactive.action.buttons[0].type", "interactive", content)


def test_button_body_max_1024() -> None:
    assert build("interactive", buttons_message("Yes", body={"text": "b" * 1024}))
    rejects("interactive.body.text", "interactive", buttons_message("Yes", body={"text": "b" * 1025}))


def test_button_body_required() -> None:
    content = buttons_message("Yes")
    del content["body"]
    rejects("interactive.body", "interactive", content)


def test_button_footer_max_60() -> None:
    assert build("interactive", buttons_message("Yes", footer={"text": "f" * 60}))
    rejects("interactive.footer.text", "interactive", buttons_message("Yes", footer={"text": "f" * 61}))


def test_button_header_text_max_60() -> None:
    assert build("interactive", buttons_message("Yes", header={"type": "text", "text": "h" * 60}))
    rejects("interactive.header.text", "interactive", buttons_message("Yes", header={"type": "text", "text": "h" * 61}))


@pytest.mark.parametrize("kind", ["image", "video", "document"])
def test_button_header_may_be_media(kind: str) -> None:
    header = {"type": kind, kind: {"link": "https://www.luckyshrub.com/assets/banner"}}
    assert build("interactive", buttons_message("Yes", header=header))["interactive"]["header"] == header


def test_button_header_media_needs_exactly_one_of_id_or_link() -> None:
    header = {"type": "image", "image": {"id": "1013859600285441", "link": "https://example.com/a.png"}}
    rejects("interactive.header.image", "interactive", buttons_message("Yes", header=header))


def test_button_header_type_must_be_known() -> None:
    rejects("interactive.header.type", "interactive", buttons_message("Yes", header={"type": "audio"}))


# --- interactive list -------------------------------------------------------------------


def test_list_payload() -> None:
    interactive = build("interactive", list_message())["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"]["button"] == "Shipping Options"
    assert interactive["action"]["sections"][0]["rows"][0] == {
        "id": "priority_express",
        "title": "Express Shipping",
        "description": "Next Day to 2 Days",
    }


def test_list_button_label_max_20() -> None:
    content = list_message()
    content["action"]["button"] = "b" * 21
    rejects("interactive.action.button", "interactive", content)


def test_list_button_label_required() -> None:
    content = list_message()
    del content["action"]["button"]
    rejects("interactive.action.button", "interactive", content)


def test_list_at_most_10_sections() -> None:
    sections = [{"title": f"S{i}", "rows": rows(1, f"s{i}")} for i in range(10)]
    assert build("interactive", list_message(sections))
    sections.append({"title": "S10", "rows": rows(1, "s10")})
    rejects("interactive.action.sections", "interactive", list_message(sections))


def test_list_at_least_1_section() -> None:
    rejects("interactive.action.sections", "interactive", list_message([]))


def test_list_at_most_10_rows_in_total() -> None:
    assert build(
        "interactive", list_message([{"title": "A", "rows": rows(6, "a")}, {"title": "B", "rows": rows(4, "b")}])
    )
    sections = [{"title": "A", "rows": rows(6, "a")}, {"title": "B", "rows": rows(5, "b")}]
    error = rejects("interactive.action.sections", "interactive", list_message(sections))
    assert "10 rows" in error.reason


def test_list_section_needs_rows() -> None:
    rejects("interactive.action.sections[0].rows", "interactive", list_message([{"title": "Empty", "rows": []}]))


def test_list_section_title_max_24() -> None:
    assert build("interactive", list_message([{"title": "t" * 24, "rows": rows(1)}]))
    rejects("interactive.action.sections[0].title", "interactive", list_message([{"title": "t" * 25, "rows": rows(1)}]))


def test_list_section_title_required_with_several_sections() -> None:
    assert build("interactive", list_message([{"rows": rows(1)}]))
    sections = [{"title": "A", "rows": rows(1, "a")}, {"rows": rows(1, "b")}]
    rejects("interactive.action.sections[1].title", "interactive", list_message(sections))


def test_list_row_title_max_24() -> None:
    assert build("interactive", list_message([{"rows": [{"id": "r", "title": "t" * 24}]}]))
    rejects(
        "interactive.action.sections[0].rows[0].title",
        "interactive",
        list_message([{"rows": [{"id": "r", "title": "t" * 25}]}]),
    )


def test_list_row_description_max_72() -> None:
    assert build("interactive", list_message([{"rows": [{"id": "r", "title": "t", "description": "d" * 72}]}]))
    rejects(
        "interactive.action.sections[0].rows[0].description",
        "interactive",
        list_message([{"rows": [{"id": "r", "title": "t", "description": "d" * 73}]}]),
    )


def test_list_row_id_max_200() -> None:
    assert build("interactive", list_message([{"rows": [{"id": "i" * 200, "title": "t"}]}]))
    rejects(
        "interactive.action.sections[0].rows[0].id",
        "interactive",
        list_message([{"rows": [{"id": "i" * 201, "title": "t"}]}]),
    )


def test_list_row_ids_unique_across_sections() -> None:
    sections = [
        {"title": "A", "rows": [{"id": "same", "title": "a"}]},
        {"title": "B", "rows": [{"id": "same", "title": "b"}]},
    ]
    rejects("interactive.action.sections[1].rows[0].id", "interactive", list_message(sections))


def test_list_body_max_4096() -> None:
    assert build("interactive", list_message(body={"text": "b" * 4096}))
    rejects("interactive.body.text", "interactive", list_message(body={"text": "b" * 4097}))


def test_list_footer_max_60() -> None:
    rejects("interactive.footer.text", "interactive", list_message(footer={"text": "f" * 61}))


def test_list_header_text_max_60() -> None:
    assert build("interactive", list_message(header={"type": "text", "text": "h" * 60}))
    rejects("interactive.header.text", "interactive", list_message(header={"type": "text", "text": "h" * 61}))


def test_list_header_is_text_only() -> None:
    header = {"type": "image", "image": {"link": "https://example.com/a.png"}}
    rejects("interactive.header.type", "interactive", list_message(header=header))


# --- template ---------------------------------------------------------------------------


def test_template_payload() -> None:
    components = [
        {"type": "body", "parameters": [{"type": "text", "parameter_name": "customer_name", "text": "Maria"}]},
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "STOP"}],
        },
    ]
    content = {
        "name": "store_grand_opening",
        "language": {"policy": "deterministic", "code": "en_US"},
        "components": components,
    }
    assert build("template", content)["template"] == content


def test_template_language_may_be_a_code() -> None:
    assert build("template", {"name": "hello_world", "language": "en_US"})["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }


def test_template_name_required() -> None:
    rejects("template.name", "template", {"language": "en_US"})


def test_template_name_format() -> None:
    rejects("template.name", "template", {"name": "Hello World", "language": "en_US"})


def test_template_name_max_512() -> None:
    rejects("template.name", "template", {"name": "a" * 513, "language": "en_US"})


def test_template_language_code_required() -> None:
    rejects("template.language.code", "template", {"name": "hello_world", "language": {"policy": "deterministic"}})
    rejects("template.language", "template", {"name": "hello_world"})


def test_template_language_policy_is_deterministic() -> None:
    rejects("template.language.policy", "template", {"name": "hello_world", "language": {"code": "en", "policy": "x"}})


def test_template_components_must_be_a_list() -> None:
    rejects("template.components", "template", {"name": "hello_world", "language": "en", "components": {}})


def test_template_component_type_required() -> None:
    rejects("template.components[0].type", "template", {"name": "hello_world", "language": "en", "components": [{}]})


def test_template_button_component_needs_sub_type_and_index() -> None:
    base = {"name": "hello_world", "language": "en"}
    rejects("template.components[0].sub_type", "template", {**base, "components": [{"type": "button", "index": "0"}]})
    rejects(
        "template.components[0].index",
        "template",
        {**base, "components": [{"type": "button", "sub_type": "quick_reply"}]},
    )


def test_template_parameter_type_required() -> None:
    content = {"name": "hello_world", "language": "en", "components": [{"type": "body", "parameters": [{"text": "x"}]}]}
    rejects("template.components[0].parameters[0].type", "template", content)


def test_only_template_is_allowed_outside_the_window() -> None:
    assert OUTSIDE_WINDOW_TYPES == {"template"}
    assert "template" not in FREE_FORM_TYPES
    assert SUPPORTED_TYPES == FREE_FORM_TYPES | OUTSIDE_WINDOW_TYPES
    assert is_allowed_outside_window("template")
    assert not any(is_allowed_outside_window(t) for t in FREE_FORM_TYPES)


# --- media ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["image", "audio", "video", "document", "sticker"])
def test_media_by_id_or_link(kind: str) -> None:
    assert build(kind, {"id": "1037543291543636"})[kind] == {"id": "1037543291543636"}
    assert build(kind, {"link": "https://www.luckyshrub.com/a"})[kind] == {"link": "https://www.luckyshrub.com/a"}


@pytest.mark.parametrize("kind", ["image", "audio", "video", "document", "sticker"])
def test_media_needs_exactly_one_of_id_or_link(kind: str) -> None:
    rejects(kind, kind, {})
    rejects(kind, kind, {"id": "1037543291543636", "link": "https://www.luckyshrub.com/a"})


def test_media_link_must_be_http() -> None:
    rejects("video.link", "video", {"link": "ftp://example.com/v.mp4"})


@pytest.mark.parametrize("kind", ["image", "video", "document"])
def test_media_caption_max_1024(kind: str) -> None:
    assert build(kind, {"id": "1", "caption": "c" * 1024})[kind]["caption"] == "c" * 1024
    rejects(f"{kind}.caption", kind, {"id": "1", "caption": "c" * 1025})


@pytest.mark.parametrize("kind", ["audio", "sticker"])
def test_audio_and_sticker_take_no_caption(kind: str) -> None:
    rejects(f"{kind}.caption", kind, {"id": "1", "caption": "no"})


def test_document_filename() -> None:
    assert build("document", {"id": "1", "filename": "invoice.pdf"})["document"] == {
        "id": "1",
        "filename": "invoice.pdf",
    }


def test_only_documents_take_a_filename() -> None:
    rejects("image.filename", "image", {"id": "1", "filename": "a.png"})


def test_media_content_must_be_an_object() -> None:
    rejects("image", "image", "https://example.com/a.png")


# --- location and reaction --------------------------------------------------------------


def test_location_payload() -> None:
    content = {
        "latitude": 37.44216251868683,
        "longitude": -122.16153582049394,
        "name": "Philz",
        "address": "101 Forest Ave",
    }
    assert build("location", content)["location"] == content


@pytest.mark.parametrize(("field", "value"), [("latitude", 90.5), ("latitude", "north"), ("latitude", True)])
def test_location_latitude_range(field: str, value: Any) -> None:
    rejects(f"location.{field}", "location", {"latitude": value, "longitude": 0})


def test_location_longitude_range() -> None:
    rejects("location.longitude", "location", {"latitude": 0, "longitude": -180.5})


def test_location_coordinates_required() -> None:
    rejects("location.latitude", "location", {"longitude": 0})


def test_reaction_payload() -> None:
    assert build("reaction", {"message_id": WAMID, "emoji": "\U0001f600"})["reaction"] == {
        "message_id": WAMID,
        "emoji": "\U0001f600",
    }


def test_reaction_with_empty_emoji_removes_it() -> None:
    assert build("reaction", {"message_id": WAMID, "emoji": ""})["reaction"]["emoji"] == ""


def test_reaction_message_id_required() -> None:
    rejects("reaction.message_id", "reaction", {"emoji": "\U0001f600"})


def test_reaction_emoji_must_be_text() -> None:
    rejects("reaction.emoji", "reaction", {"message_id": WAMID, "emoji": 1})


def test_reaction_takes_no_context() -> None:
    rejects("context", "reaction", {"message_id": WAMID, "emoji": "\U0001f600"}, context_wamid=WAMID)


# --- mark as read -----------------------------------------------------------------------


def test_mark_read_payload() -> None:
    assert build_mark_read_payload(WAMID) == {"messaging_product": "whatsapp", "status": "read", "message_id": WAMID}


def test_mark_read_with_typing_indicator() -> None:
    assert build_mark_read_payload(WAMID, typing_indicator=True)["typing_indicator"] == {"type": "text"}


def test_mark_read_needs_a_message_id() -> None:
    with pytest.raises(OutboundValidationError) as excinfo:
        build_mark_read_payload("")
    assert excinfo.value.field == "message_id"
