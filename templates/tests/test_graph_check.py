"""flow_graph_check: warnings about unreachable templates, loops without exit, dead ends."""

import pytest

from templates.choices import MatchType
from templates.selectors import flow_graph_check
from templates.services import flow_settings_update
from templates.tests.factories import builtin_rules_off, button_template, rule, text_template, wire


@pytest.fixture
def clean_tenant(in_alpha):
    builtin_rules_off()


def codes(template=None):
    return [w.code for w in flow_graph_check() if template is None or template.pk in w.template_ids]


def test_wired_menu_has_no_warnings(clean_tenant):
    menu = button_template(titles=("Prices", "Hours"))
    prices, hours = menu.buttons.all()
    wire(prices, text_template(name="Prices"))
    wire(hours, text_template(name="Hours"))
    rule("menu", menu)
    assert flow_graph_check() == []


def test_unreachable_template_is_reported(clean_tenant):
    orphan = text_template(name="Orphan")
    rule("hello", text_template(name="Reached"))
    [warning] = flow_graph_check()
    assert warning.code == "unreachable" and warning.template_ids == (orphan.pk,) and "'Orphan'" in warning.message


def test_fallback_and_inactive_templates_are_not_unreachable(clean_tenant):
    flow_settings_update(fallback_template=text_template(name="Fallback"))
    text_template(name="Draft", is_active=False)
    assert flow_graph_check() == []


def test_loop_without_exit(clean_tenant):
    first = button_template(name="First", titles=("Next",))
    second = button_template(name="Second", titles=("Back",))
    wire(first.buttons.get(), second)
    wire(second.buttons.get(), first)
    rule("start", first)
    [warning] = flow_graph_check()
    assert warning.code == "loop_without_exit"
    assert set(warning.template_ids) == {first.pk, second.pk}


def test_self_loop_without_exit(clean_tenant):
    again = button_template(name="Again", titles=("Again",))
    wire(again.buttons.get(), again)
    rule("again", again)
    assert codes() == ["loop_without_exit"]


def test_loop_with_an_exit_is_fine(clean_tenant):
    first = button_template(name="First", titles=("Next", "Done"))
    second = button_template(name="Second", titles=("Back",))
    wire(first.buttons.get(title="Next"), second)
    wire(first.buttons.get(title="Done"), text_template(name="Bye"))
    wire(second.buttons.get(), first)
    rule("start", first)
    assert flow_graph_check() == []


def test_dead_end_button_and_inactive_target(clean_tenant):
    menu = button_template(titles=("Nowhere", "Disabled", "Handled"))
    wire(menu.buttons.get(title="Disabled"), text_template(name="Off", is_active=False))
    handled = menu.buttons.get(title="Handled")
    rule(handled.payload_id, None, match_type=MatchType.PAYLOAD, action="handoff")
    rule("menu", menu)
    assert sorted(codes(menu)) == ["dead_end_choice", "inactive_target"]
