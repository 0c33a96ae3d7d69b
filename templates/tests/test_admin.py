"""The builder in the tenant admin, as alpha's owner on alpha.test."""

import pytest

from templates.choices import TemplateKind
from templates.models import FlowRule, MessageTemplate, TemplateButton
from templates.tests.factories import button_template, list_template, text_template, wire
from tests.tenancy import tenant_client

BASE = "/admin/message_templates/messagetemplate/"


@pytest.fixture
def owner(in_alpha, alpha):
    return tenant_client(alpha, login=True)


def template_form(*, kind=TemplateKind.TEXT, body="Hello", buttons=(), rows=(), **extra):
    """POST data of the template change form with its two inlines."""
    data = {
        "name": extra.pop("name", "Built in test"),
        "kind": kind,
        "is_active": "on",
        "description": "",
        "header_text": "",
        "body": body,
        "footer": "",
        "list_button": extra.pop("list_button", ""),
        "variables": "{}",
        "buttons-TOTAL_FORMS": str(len(buttons)),
        "buttons-INITIAL_FORMS": "0",
        "buttons-MIN_NUM_FORMS": "0",
        "buttons-MAX_NUM_FORMS": "3",
        "rows-TOTAL_FORMS": str(len(rows)),
        "rows-INITIAL_FORMS": "0",
        "rows-MIN_NUM_FORMS": "0",
        "rows-MAX_NUM_FORMS": "10",
    }
    for index, (title, next_template) in enumerate(buttons):
        data.update(
            {
                f"buttons-{index}-position": str(index),
                f"buttons-{index}-title": title,
                f"buttons-{index}-next_template": str(next_template or ""),
                f"buttons-{index}-next_state": "",
            }
        )
    for index, (section, title) in enumerate(rows):
        data.update(
            {
                f"rows-{index}-position": str(index),
                f"rows-{index}-section_title": section,
                f"rows-{index}-title": title,
                f"rows-{index}-description": "",
                f"rows-{index}-next_template": "",
                f"rows-{index}-next_state": "",
            }
        )
    data.update(extra)
    return data


def errors_of(response) -> str:
    assert response.status_code == 200, "expected the form again, with errors"
    return response.content.decode()


class TestPagesRender:
    def test_changelist_shows_templates_and_flow_warnings(self, owner):
        text_template(name="Lonely orphan")
        response = owner.get(BASE)
        assert response.status_code == 200
        page = response.content.decode()
        assert "Lonely orphan" in page and "Sync from WhatsApp" in page
        assert "&#x27;Lonely orphan&#x27; is not reachable" in page or "'Lonely orphan' is not reachable" in page

    def test_add_page(self, owner):
        response = owner.get(f"{BASE}add/")
        assert response.status_code == 200
        page = response.content.decode()
        assert 'id="buttons-group"' in page and 'id="rows-group"' in page
        assert "message_templates/builder.js" in page and "Save the template to see the preview" in page
        assert 'value="meta_template"' not in page  # synced only

    def test_change_page_with_inlines_preview_and_warnings(self, owner):
        menu = button_template(name="Main menu", titles=("Prices", "Hours"), body="Hi *{{first_name}}*")
        wire(menu.buttons.get(title="Prices"), text_template(name="Prices"))
        response = owner.get(f"{BASE}{menu.pk}/change/")
        assert response.status_code == 200
        page = response.content.decode()
        assert menu.key in page
        for button in menu.buttons.all():
            assert button.payload_id in page
        assert 'class="wa-bubble"' in page and '<div class="wa-button">Hours</div>' in page
        assert '<strong><span class="wa-var">first_name</span></strong>' in page
        assert "message_templates/preview.css" in page
        assert "leads nowhere" in page  # the unwired "Hours" button, on its own template's form
        assert "Send test to my number" in page

    def test_preview_page_escapes_staff_text(self, owner):
        catalogue = list_template(name="<b>Services</b>", rows=[("Hair", "<script>x</script>", "")])
        response = owner.get(f"{BASE}{catalogue.pk}/preview/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
        assert 'class="wa-list"' in page and "Hair" in page

    def test_other_builder_pages(self, owner):
        assert owner.get("/admin/message_templates/flowrule/").status_code == 200
        assert owner.get("/admin/message_templates/flowrule/add/").status_code == 200
        settings_page = owner.get("/admin/message_templates/flowsettings/")
        assert settings_page.status_code == 302 and settings_page["Location"].endswith("/1/change/")
        assert owner.get(settings_page["Location"]).status_code == 200

    def test_synced_meta_template_is_read_only_except_wiring(self, owner):
        meta = MessageTemplate.objects.create(
            name="promo (en)",
            kind=TemplateKind.META_TEMPLATE,
            meta_name="promo",
            meta_language="en",
            meta_status="APPROVED",
            body="Sale!",
            meta_components=[{"type": "BODY", "text": "Sale!"}],
        )
        stop = TemplateButton.objects.create(template=meta, position=1, title="Stop promotions")
        target = text_template(name="Goodbye")
        response = owner.get(f"{BASE}{meta.pk}/change/")
        assert response.status_code == 200
        page = response.content.decode()
        assert 'name="body"' not in page and 'name="buttons-0-title"' not in page
        assert 'name="buttons-0-next_template"' in page
        wiring = {
            "name": "promo (en)",
            "is_active": "on",
            "description": "",
            "variables": "{}",
            "header_media_link": "",
            "buttons-TOTAL_FORMS": "1",
            "buttons-INITIAL_FORMS": "1",
            "buttons-MIN_NUM_FORMS": "0",
            "buttons-MAX_NUM_FORMS": "3",
            "buttons-0-id": str(stop.pk),
            "buttons-0-template": str(meta.pk),
            "buttons-0-next_template": str(target.pk),
            "buttons-0-next_state": "opted_out",
        }
        saved = owner.post(f"{BASE}{meta.pk}/change/", wiring)
        assert saved.status_code == 302, errors_of(saved)
        stop.refresh_from_db()
        assert (stop.title, stop.position, stop.next_template, stop.next_state) == (
            "Stop promotions",
            1,
            target,
            "opted_out",
        )


class TestBuilderValidation:
    def test_valid_button_template_is_saved_with_generated_key_and_ids(self, owner):
        target = text_template(name="Target")
        response = owner.post(
            f"{BASE}add/",
            template_form(kind=TemplateKind.INTERACTIVE_BUTTON, buttons=[("Yes", target.pk), ("No", None)]),
        )
        assert response.status_code == 302, errors_of(response)
        saved = MessageTemplate.objects.get(name="Built in test")
        assert saved.key.startswith("tmpl_")
        assert [(b.position, b.title, b.next_template) for b in saved.buttons.all()] == [
            (0, "Yes", target),
            (1, "No", None),
        ]
        assert all(b.payload_id.startswith("btn_") for b in saved.buttons.all())

    def test_typed_key_is_ignored(self, owner):
        response = owner.post(f"{BASE}add/", template_form(key="tmpl_mine0000"))
        assert response.status_code == 302
        assert MessageTemplate.objects.get(name="Built in test").key != "tmpl_mine0000"

    def test_zero_and_four_buttons_are_refused(self, owner):
        none = errors_of(owner.post(f"{BASE}add/", template_form(kind=TemplateKind.INTERACTIVE_BUTTON)))
        assert "At least one button is required" in none
        four = template_form(kind=TemplateKind.INTERACTIVE_BUTTON, buttons=[(f"B{i}", None) for i in range(4)])
        assert "At most 3 buttons, got 4" in errors_of(owner.post(f"{BASE}add/", four))
        assert not MessageTemplate.objects.filter(name="Built in test").exists()

    def test_long_and_duplicate_titles_are_refused(self, owner):
        long_title = template_form(kind=TemplateKind.INTERACTIVE_BUTTON, buttons=[("x" * 21, None)])
        assert "at most 20 characters" in errors_of(owner.post(f"{BASE}add/", long_title)).lower()
        same = template_form(kind=TemplateKind.INTERACTIVE_BUTTON, buttons=[("Same", None), ("Same", None)])
        assert "Button titles must be unique" in errors_of(owner.post(f"{BASE}add/", same))

    def test_list_limits(self, owner):
        eleven = template_form(
            kind=TemplateKind.INTERACTIVE_LIST, list_button="Choose", rows=[("", f"Row {i}") for i in range(11)]
        )
        assert "At most 10 rows in total" in errors_of(owner.post(f"{BASE}add/", eleven))
        no_label = template_form(kind=TemplateKind.INTERACTIVE_LIST, rows=[("", "Row")])
        assert "This field is required" in errors_of(owner.post(f"{BASE}add/", no_label))

    def test_dangling_next_template_is_refused(self, owner):
        dangling = template_form(kind=TemplateKind.INTERACTIVE_BUTTON, buttons=[("Go", 987654)])
        assert "Select a valid choice" in errors_of(owner.post(f"{BASE}add/", dangling))

    def test_buttons_on_a_text_template_are_refused(self, owner):
        page = errors_of(owner.post(f"{BASE}add/", template_form(buttons=[("Yes", None)])))
        assert "Only reply-button templates have buttons" in page

    def test_flow_rule_regex_and_payload_checks(self, owner):
        answer = text_template()
        base = {
            "name": "r",
            "priority": "5",
            "is_active": "on",
            "required_state": "",
            "template": str(answer.pk),
            "next_state": "",
            "action": "send_template",
        }
        bad_regex = owner.post(
            "/admin/message_templates/flowrule/add/", {**base, "match_type": "regex", "pattern": "(oops"}
        )
        assert "does not compile" in errors_of(bad_regex)
        unknown = owner.post(
            "/admin/message_templates/flowrule/add/", {**base, "match_type": "payload", "pattern": "btn_x"}
        )
        assert "No button or list row of this business has the payload id" in errors_of(unknown)
        good = owner.post("/admin/message_templates/flowrule/add/", {**base, "match_type": "contains", "pattern": "hi"})
        assert good.status_code == 302 and FlowRule.objects.filter(name="r").exists()


class TestSendTest:
    def test_form_prefills_the_last_number_and_validates(self, owner):
        template = text_template()
        url = f"{BASE}{template.pk}/send-test/"
        assert owner.get(url).status_code == 200
        page = errors_of(owner.post(url, {"to": "12", "send_test": "1"}))
        assert "international number" in page
