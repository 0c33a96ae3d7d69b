"""Template and rule validation (Meta's limits come from bizmitra.graph_api.payloads)."""

from types import SimpleNamespace

import pytest

from templates.choices import FlowAction, MatchType, TemplateKind
from templates.validation import flow_rule_problems, template_field_problems, template_item_problems, template_problems


def button(title, payload_id=None):
    return SimpleNamespace(title=title, payload_id=payload_id or f"btn_{title.lower()[:8] or 'x'}")


def row(title, section="", description="", payload_id=None):
    return SimpleNamespace(
        title=title, section_title=section, description=description, payload_id=payload_id or f"row_{title}"
    )


def paths(problems):
    return {p.path for p in problems}


class TestButtons:
    def test_one_to_three_buttons_are_fine(self):
        for count in (1, 2, 3):
            buttons = [button(f"B{i}") for i in range(count)]
            assert template_item_problems(kind=TemplateKind.INTERACTIVE_BUTTON, buttons=buttons) == []

    def test_no_buttons_is_refused(self):
        [problem] = template_item_problems(kind=TemplateKind.INTERACTIVE_BUTTON, buttons=[])
        assert problem.field == "buttons" and "at least one button" in problem.message.lower()

    def test_four_buttons_are_refused(self):
        [problem] = template_item_problems(
            kind=TemplateKind.INTERACTIVE_BUTTON, buttons=[button(f"B{i}") for i in range(4)]
        )
        assert problem.path == "buttons" and "at most 3" in problem.message.lower()

    def test_every_title_over_20_characters_is_reported(self):
        problems = template_item_problems(
            kind=TemplateKind.INTERACTIVE_BUTTON,
            buttons=[button("x" * 21, "btn_1"), button("ok"), button("y" * 25, "btn_3")],
        )
        assert paths(problems) == {"buttons[0].title", "buttons[2].title"}
        assert all("at most 20 characters" in p.message.lower() for p in problems)

    def test_duplicate_titles_are_refused(self):
        problems = template_item_problems(
            kind=TemplateKind.INTERACTIVE_BUTTON, buttons=[button("Same", "btn_1"), button("Same", "btn_2")]
        )
        assert [(p.path, "unique" in p.message) for p in problems] == [("buttons[1].title", True)]

    def test_buttons_on_a_text_template_are_refused(self):
        [problem] = template_item_problems(kind=TemplateKind.TEXT, buttons=[button("A")])
        assert problem.field == "buttons"

    def test_button_body_limit_is_1024(self):
        problems = template_field_problems(kind=TemplateKind.INTERACTIVE_BUTTON, body="x" * 1025)
        assert paths(problems) == {"body"}
        assert template_field_problems(kind=TemplateKind.TEXT, body="x" * 1025) == []


class TestLists:
    def test_ten_rows_across_sections_are_fine(self):
        rows = [row(f"R{i}", section=f"S{i % 3}") for i in range(10)]
        assert template_item_problems(kind=TemplateKind.INTERACTIVE_LIST, rows=rows) == []

    def test_eleven_rows_are_refused(self):
        problems = template_item_problems(kind=TemplateKind.INTERACTIVE_LIST, rows=[row(f"R{i}") for i in range(11)])
        assert paths(problems) == {"rows"} and "at most 10 rows" in problems[0].message.lower()

    def test_no_rows_is_refused(self):
        assert paths(template_item_problems(kind=TemplateKind.INTERACTIVE_LIST, rows=[])) == {"rows"}

    def test_row_title_description_and_section_title_limits(self):
        problems = template_item_problems(
            kind=TemplateKind.INTERACTIVE_LIST,
            rows=[
                row("t" * 25, section="Main"),
                row("ok", section="Main", description="d" * 73),
                row("fine", section="s" * 25),
            ],
        )
        assert paths(problems) == {"rows[0].title", "rows[1].description", "rows[2].section_title"}

    def test_two_sections_need_titles(self):
        problems = template_item_problems(kind=TemplateKind.INTERACTIVE_LIST, rows=[row("A"), row("B", section="More")])
        assert "rows[0].section_title" in paths(problems)

    def test_list_needs_its_button_label(self):
        problems = template_problems(kind=TemplateKind.INTERACTIVE_LIST, body="Pick", list_button="", rows=[row("A")])
        assert paths(problems) == {"list_button"}
        too_long = template_field_problems(kind=TemplateKind.INTERACTIVE_LIST, body="Pick", list_button="x" * 21)
        assert paths(too_long) == {"list_button"}


class TestRules:
    @pytest.mark.parametrize("pattern", ["(unclosed", "*oops", "[a-"])
    def test_regex_must_compile(self, pattern):
        [problem] = flow_rule_problems(
            match_type=MatchType.REGEX, pattern=pattern, action=FlowAction.HANDOFF, template=None
        )
        assert problem.field == "pattern" and "does not compile" in problem.message

    def test_valid_regex_and_keywords_pass(self):
        assert flow_rule_problems(match_type=MatchType.REGEX, pattern=r"^order\s+\d+$", action=FlowAction.AI) == []
        assert flow_rule_problems(match_type=MatchType.CONTAINS, pattern="hi, hello", action=FlowAction.AI) == []

    def test_keyword_rule_needs_a_real_keyword(self):
        [problem] = flow_rule_problems(match_type=MatchType.EQUALS, pattern=" , !! ,", action=FlowAction.AI)
        assert problem.field == "pattern"

    def test_payload_rule_must_name_an_existing_payload(self):
        problems = flow_rule_problems(
            match_type=MatchType.PAYLOAD,
            pattern="btn_gone",
            action=FlowAction.HANDOFF,
            payload_exists=lambda payload_id: False,
        )
        assert [p.field for p in problems] == ["pattern"]

    def test_send_template_needs_a_template_and_set_state_a_state(self):
        assert paths(flow_rule_problems(match_type="contains", pattern="hi", action=FlowAction.SEND_TEMPLATE)) == {
            "template"
        }
        assert paths(flow_rule_problems(match_type="contains", pattern="hi", action=FlowAction.SET_STATE)) == {
            "next_state"
        }
