"""Rule validation and the messages rules render for trigger variables."""

import pytest

from bizmitra.phones import phone_e164 as phone_normalize
from workflows.models import CommunicationWorkflow
from workflows.services.rules import RenderError, content_render, workflow_errors


def rule(**fields) -> CommunicationWorkflow:
    defaults = {"name": "r", "trigger": "lead_captured", "channel": "whatsapp", "language": "en_US"}
    defaults.update(fields)
    return CommunicationWorkflow(**defaults)


class TestRender:
    def test_list_variables_fill_the_template_body_in_order(self):
        content = content_render(workflow=rule(template_name="appt_v2"), variables=["Asha", "Dr. Rao"])
        assert content == {
            "type": "template",
            "template": {
                "name": "appt_v2",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "Dr. Rao"}],
                    }
                ],
            },
        }

    def test_object_variables_become_named_parameters(self):
        content = content_render(workflow=rule(template_name="welcome"), variables={"first_name": "Asha"})
        assert content["template"]["components"][0]["parameters"] == [
            {"type": "text", "text": "Asha", "parameter_name": "first_name"}
        ]

    def test_mapping_places_variables_in_header_body_and_buttons(self):
        mapping = {"header": [2], "body": [1, "2"], "buttons": [{"index": 0, "sub_type": "url", "parameters": [3]}]}
        content = content_render(
            workflow=rule(template_name="meet", parameter_mapping=mapping), variables=["Asha", "Mon 10AM", "abc-xyz"]
        )
        components = content["template"]["components"]
        assert components[0] == {"type": "header", "parameters": [{"type": "text", "text": "Mon 10AM"}]}
        assert [p["text"] for p in components[1]["parameters"]] == ["Asha", "Mon 10AM"]
        assert components[2] == {
            "type": "button",
            "sub_type": "url",
            "index": "0",
            "parameters": [{"type": "text", "text": "abc-xyz"}],
        }

    def test_no_variables_means_no_components(self):
        assert "components" not in content_render(workflow=rule(template_name="hello_world"), variables=[])["template"]

    def test_free_text_body_substitutes_placeholders(self):
        content = content_render(workflow=rule(body="Hi {{1}}, your slot is {{ 2 }}."), variables=["Asha", "10 AM"])
        assert content == {"type": "text", "text": {"body": "Hi Asha, your slot is 10 AM."}}

    def test_missing_variable_is_a_render_error(self):
        with pytest.raises(RenderError, match="needs variable 3"):
            content_render(workflow=rule(template_name="t", parameter_mapping={"body": [3]}), variables=["a"])

    def test_email_renders_subject_and_body(self):
        workflow = rule(channel="email", email_subject="Hi {{name}}", body="See you {{when}}")
        content = content_render(workflow=workflow, variables={"name": "Asha", "when": "Monday"})
        assert content == {"type": "email", "subject": "Hi Asha", "body": "See you Monday"}


class TestRuleErrors:
    def errors(self, **overrides):
        values = {
            "channel": "whatsapp",
            "template_name": "",
            "body": "",
            "email_subject": "",
            "tenant_template_id": None,
            "parameter_mapping": {},
        }
        values.update(overrides)
        return workflow_errors(**values)

    def test_whatsapp_needs_a_template_or_a_body(self):
        assert "template_name" in self.errors()
        assert self.errors(template_name="x") == {}
        assert self.errors(body="hello") == {}

    def test_email_needs_subject_and_body_and_no_meta_template(self):
        errors = self.errors(channel="email", template_name="x")
        assert set(errors) == {"template_name", "body", "email_subject"}

    def test_a_tenant_template_is_checked_in_this_tenant(self, in_alpha):
        # The positive cases and the API are in test_tenant_templates.py.
        assert "tenant_template_id" in self.errors(tenant_template_id=2**40)

    def test_bad_mapping_is_named(self):
        assert "parameter_mapping" in self.errors(template_name="x", parameter_mapping={"body": [0]})
        assert "parameter_mapping" in self.errors(template_name="x", parameter_mapping={"footer": []})
        assert "parameter_mapping" in self.errors(
            template_name="x", parameter_mapping={"buttons": [{"index": 0, "sub_type": "phone"}]}
        )


class TestPhoneNormalize:
    @pytest.mark.parametrize(
        "raw", ["918143963821", "+91 81439 63821", "0091-8143963821", "+91 (814) 396-3821", " 918143963821 "]
    )
    def test_variants_normalise_to_e164(self, raw):
        assert phone_normalize(raw) == "+918143963821"

    @pytest.mark.parametrize("raw", ["", "12", "not a phone", "+15550783881", "+9181439638211234"])
    def test_invalid_numbers_refused(self, raw):
        with pytest.raises(ValueError):
            phone_normalize(raw)
