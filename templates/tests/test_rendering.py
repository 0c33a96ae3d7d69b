"""render_template: variables, interactive payloads and Meta template parameters."""

import pytest

from bizmitra.graph_api.payloads import build_message_payload
from templates.choices import ParameterFormat, TemplateKind
from templates.models import MessageTemplate, TemplateButton
from templates.rendering import META_EMPTY_PARAMETER, render_context, render_template
from templates.tests.factories import button_template, contact, list_template, text_template


def sendable(rendered):
    """The rendered message passes the same validation as every send."""
    return build_message_payload(to="+919876543210", type=rendered["type"], content=rendered["content"])


class TestTextAndInteractive:
    def test_named_and_dotted_variables(self, in_alpha):
        template = text_template(body="Hi {{first_name}}, your {{ lead.service }} is on {{date}}.")
        context = render_context(
            contact=contact(profile_name="Asha Rao"), lead={"service": "cleaning"}, trigger={"date": "Monday"}
        )
        rendered = render_template(template, context)
        assert rendered == {"type": "text", "content": {"body": "Hi Asha, your cleaning is on Monday."}}
        sendable(rendered)

    def test_positional_variables_with_sources(self, in_alpha):
        template = text_template(body="Order {{1}} ships to {{2}}.", variables={"2": {"source": "lead.city"}})
        rendered = render_template(template, {"1": "A-17", "lead": {"city": "Pune"}})
        assert rendered["content"]["body"] == "Order A-17 ships to Pune."

    def test_missing_variables_render_empty_or_fallback(self, in_alpha):
        template = text_template(
            body="Hi {{first_name}}! Ref {{ref}}.", variables={"first_name": {"source": "", "fallback": "there"}}
        )
        assert render_template(template, {})["content"]["body"] == "Hi there! Ref ."
        assert render_template(template, {"first_name": "  "})["content"]["body"] == "Hi there! Ref ."

    def test_trigger_wins_over_lead_and_contact(self, in_alpha):
        context = render_context(
            contact=contact(profile_name="Wa Name"), lead={"name": "Lead Name"}, trigger={"first_name": "Given"}
        )
        assert context["first_name"] == "Given"
        assert context["contact"]["first_name"] == "Wa" and context["lead"]["first_name"] == "Lead"

    def test_buttons(self, in_alpha):
        menu = button_template(titles=("Yes", "No"), body="Hi {{first_name}}, continue?", header_text="Order {{1}}")
        menu.footer = "Reply any time"
        rendered = render_template(menu, {"first_name": "Ravi", "1": "42"})
        ids = [b.payload_id for b in menu.buttons.all()]
        assert rendered == {
            "type": "interactive",
            "content": {
                "type": "button",
                "header": {"type": "text", "text": "Order 42"},
                "body": {"text": "Hi Ravi, continue?"},
                "footer": {"text": "Reply any time"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": ids[0], "title": "Yes"}},
                        {"type": "reply", "reply": {"id": ids[1], "title": "No"}},
                    ]
                },
            },
        }
        sendable(rendered)

    def test_empty_header_is_left_out(self, in_alpha):
        menu = button_template(header_text="{{missing}}")
        assert "header" not in render_template(menu, {})["content"]

    def test_list_sections_group_rows_by_title(self, in_alpha):
        catalogue = list_template(rows=[("Hair", "Cut", "30 min"), ("Nails", "Manicure", ""), ("Hair", "Colour", "")])
        rendered = render_template(catalogue, {})
        rows = {r.title: r.payload_id for r in catalogue.rows.all()}
        assert rendered["content"]["action"] == {
            "button": "Choose",
            "sections": [
                {
                    "title": "Hair",
                    "rows": [
                        {"id": rows["Cut"], "title": "Cut", "description": "30 min"},
                        {"id": rows["Colour"], "title": "Colour"},
                    ],
                },
                {"title": "Nails", "rows": [{"id": rows["Manicure"], "title": "Manicure"}]},
            ],
        }
        sendable(rendered)


def meta_template(components, parameter_format=ParameterFormat.POSITIONAL, **fields):
    return MessageTemplate.objects.create(
        name="meta",
        kind=TemplateKind.META_TEMPLATE,
        meta_name="order_update",
        meta_language="en_US",
        meta_status="APPROVED",
        meta_parameter_format=parameter_format,
        meta_components=components,
        **fields,
    )


class TestMetaTemplates:
    def test_positional_parameters_in_slot_order(self, in_alpha):
        template = meta_template(
            [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                {"type": "BODY", "text": "Hi {{2}}, order {{1}} arrives {{3}}."},
            ],
            variables={"2": {"source": "first_name", "fallback": "friend"}},
        )
        rendered = render_template(template, {"1": "A-9", "first_name": "Meera"})
        assert rendered == {
            "type": "template",
            "content": {
                "name": "order_update",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "header", "parameters": [{"type": "text", "text": "A-9"}]},
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "A-9"},
                            {"type": "text", "text": "Meera"},
                            {"type": "text", "text": META_EMPTY_PARAMETER},
                        ],
                    },
                ],
            },
        }
        sendable(rendered)

    def test_named_parameters(self, in_alpha):
        template = meta_template(
            [{"type": "BODY", "text": "Hello {{customer_name}}, code {{code}}"}],
            parameter_format=ParameterFormat.NAMED,
            variables={"code": {"source": "", "fallback": "N/A"}},
        )
        rendered = render_template(template, render_context(trigger={"customer_name": "Maria"}))
        assert rendered["content"]["components"] == [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": "customer_name", "text": "Maria"},
                    {"type": "text", "parameter_name": "code", "text": "N/A"},
                ],
            }
        ]
        sendable(rendered)

    def test_quick_reply_url_button_and_media_header(self, in_alpha):
        template = meta_template(
            [
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": "New offers!"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "URL", "text": "Shop", "url": "https://shop.example/{{1}}"},
                        {"type": "QUICK_REPLY", "text": "Stop promotions"},
                    ],
                },
            ],
            header_media_link="https://cdn.example/offer.jpg",
        )
        stop = TemplateButton.objects.create(template=template, position=1, title="Stop promotions")
        rendered = render_template(template, {"1": "summer"})
        assert rendered["content"]["components"] == [
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example/offer.jpg"}}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "summer"}]},
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "1",
                "parameters": [{"type": "payload", "payload": stop.payload_id}],
            },
        ]
        sendable(rendered)

    def test_template_without_variables_has_no_components(self, in_alpha):
        rendered = render_template(meta_template([{"type": "BODY", "text": "Thanks!"}]), {})
        assert rendered["content"] == {"name": "order_update", "language": {"code": "en_US"}}


@pytest.mark.parametrize("kind", [TemplateKind.TEXT, TemplateKind.INTERACTIVE_BUTTON, TemplateKind.INTERACTIVE_LIST])
def test_builtin_and_factory_templates_are_sendable(in_alpha, kind):
    template = {
        TemplateKind.TEXT: text_template,
        TemplateKind.INTERACTIVE_BUTTON: button_template,
        TemplateKind.INTERACTIVE_LIST: list_template,
    }[kind]()
    sendable(render_template(template, {}))
    for builtin in MessageTemplate.objects.filter(flow_rules__builtin_intent__gt=""):
        sendable(render_template(builtin, {}))
