"""flow_match: text rules of every type, payload taps (old menus too), state, fallback."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from templates.choices import NO_ACTION, FlowAction, MatchType
from templates.services import flow_match, flow_settings_update
from templates.tests.factories import (
    builtin_rules_off,
    button_template,
    flow_place,
    list_template,
    rule,
    text_template,
    wire,
)


@pytest.fixture
def answer(in_alpha):
    builtin_rules_off()
    return text_template(name="Answer")


class TestTextRules:
    @pytest.mark.parametrize(
        ("match_type", "pattern", "text", "expected"),
        [
            (MatchType.EQUALS, "hola", "HÓLA", True),
            (MatchType.EQUALS, "hola", "  Hola!! ", True),
            (MatchType.EQUALS, "hola", "hola amigo", False),
            (MatchType.EQUALS, "café", "CAFE", True),
            (MatchType.CONTAINS, "price", "What is the PRICE?", True),
            (MatchType.CONTAINS, "hi", "this is shipping", False),
            (MatchType.CONTAINS, "how much", "Hey, HOW   much is it", True),
            (MatchType.CONTAINS, "résumé", "send my RESUME please", True),
            (MatchType.STARTS_WITH, "book", "Book a table", True),
            (MatchType.STARTS_WITH, "book", "I want to book", False),
            (MatchType.STARTS_WITH, "book", "bookshelf", False),
            (MatchType.REGEX, r"^order\s*#?\d+$", "ORDER #1234", True),
            (MatchType.REGEX, r"señor", "SENOR", True),
            (MatchType.REGEX, r"^\d{6}$", "12345", False),
        ],
    )
    def test_match_types_are_case_and_accent_insensitive(self, answer, match_type, pattern, text, expected):
        made = rule(pattern, answer, match_type=match_type)
        decision = flow_match(text=text, payload_id="", state=None)
        assert (decision.rule == made) is expected
        if expected:
            assert decision.action == FlowAction.SEND_TEMPLATE and decision.template == answer

    def test_keyword_lists_match_any_keyword(self, answer):
        made = rule("hi, hello, good morning", answer)
        assert flow_match(text="GOOD MORNING sir", payload_id="", state=None).rule == made
        assert flow_match(text="hello", payload_id="", state=None).rule == made

    def test_lowest_priority_number_wins(self, answer):
        other = text_template(name="Other")
        rule("price", answer, priority=50, name="late")
        first = rule("price", other, priority=5, name="early")
        decision = flow_match(text="price?", payload_id="", state=None)
        assert decision.rule == first and decision.template == other

    def test_inactive_rules_and_rules_sending_inactive_templates_are_skipped(self, answer):
        rule("price", answer, is_active=False)
        inactive = text_template(name="Off", is_active=False)
        rule("price", inactive, priority=2)
        assert flow_match(text="price", payload_id="", state=None).action == NO_ACTION

    def test_required_state_gates_a_rule(self, answer):
        gated = rule("yes", answer, required_state="awaiting_confirmation")
        assert flow_match(text="yes", payload_id="", state=flow_place(state="browsing")).rule is None
        state = flow_place(state="awaiting_confirmation")
        assert flow_match(text="yes", payload_id="", state=state).rule == gated

    def test_action_values_flow_through(self, answer):
        rule("agent", answer, action=FlowAction.HANDOFF)
        rule("bot", None, action=FlowAction.AI, name="ai")
        rule("later", None, action=FlowAction.SET_STATE, next_state="snoozed")
        handoff = flow_match(text="agent please", payload_id="", state=None)
        assert handoff.action == FlowAction.HANDOFF and handoff.template == answer
        assert flow_match(text="bot", payload_id="", state=None).action == FlowAction.AI
        snooze = flow_match(text="later", payload_id="", state=None)
        assert (snooze.action, snooze.next_state, snooze.template) == (FlowAction.SET_STATE, "snoozed", None)

    def test_fallback_then_none(self, answer):
        assert flow_match(text="gibberish", payload_id="", state=None).action == NO_ACTION
        flow_settings_update(fallback_template=answer)
        decision = flow_match(text="gibberish", payload_id="", state=None)
        assert (decision.action, decision.template, decision.rule) == (FlowAction.SEND_TEMPLATE, answer, None)
        assert decision.reason == "fallback template"

    def test_builtin_greeting_matches_accented_upper_case(self, in_alpha):
        decision = flow_match(text="¡HÓLA!", payload_id="", state=None)
        assert decision.rule.builtin_intent == "greeting"
        assert "Hi {{first_name}}" in decision.template.body

    def test_builtin_opt_out_beats_everything_but_only_as_a_whole_message(self, in_alpha):
        assert flow_match(text="STOP", payload_id="", state=None).rule.builtin_intent == "opt_out"
        assert flow_match(text="Stop.", payload_id="", state=None).rule.builtin_intent == "opt_out"
        assert flow_match(text="hi, where is the bus stop?", payload_id="", state=None).rule.builtin_intent == (
            "greeting"
        )
        assert flow_match(text="hello what's the price", payload_id="", state=None).rule.builtin_intent == "pricing"


class TestPayloads:
    def test_tap_follows_the_button(self, answer):
        menu = button_template(titles=("Prices", "Talk"))
        prices, _talk = menu.buttons.all()
        wire(prices, answer, next_state="pricing")
        decision = flow_match(text="Prices", payload_id=prices.payload_id, state=None)
        assert decision.action == FlowAction.SEND_TEMPLATE
        assert (decision.template, decision.next_state, decision.choice) == (answer, "pricing", prices)
        assert decision.rule is None

    def test_tap_on_an_old_menu_resolves_by_payload_id(self, answer):
        old_menu = button_template(name="Old menu", titles=("Prices",))
        new_menu = button_template(name="New menu", titles=("Prices",))
        old_prices = wire(old_menu.buttons.get(), answer)
        other = text_template(name="New prices")
        wire(new_menu.buttons.get(), other)
        # The newest menu was sent last, but the customer taps the older one.
        state = flow_place(last_template=new_menu)
        decision = flow_match(text="Prices", payload_id=old_prices.payload_id, state=state)
        assert decision.template == answer and decision.choice == old_prices

    def test_list_row_tap(self, answer):
        catalogue = list_template(rows=[("Hair", "Cut", "30 min"), ("Hair", "Colour", "")])
        colour = wire(catalogue.rows.get(title="Colour"), answer, next_state="colour")
        decision = flow_match(text="Colour", payload_id=colour.payload_id, state=None)
        assert (decision.template, decision.next_state, decision.choice) == (answer, "colour", colour)

    def test_unknown_payload_falls_back_to_last_template_by_title(self, answer):
        menu = button_template(titles=("Opening hours", "Other"))
        wire(menu.buttons.get(title="Opening hours"), answer)
        state = flow_place(last_template=menu)
        # e.g. a Meta template quick-reply whose payload we did not set
        decision = flow_match(text="OPENING HOURS", payload_id="something-else", state=state)
        assert decision.template == answer and "title matched" in decision.reason

    def test_payload_rule_handles_an_unwired_button(self, answer):
        menu = button_template(titles=("Talk to a person",))
        talk = menu.buttons.get()
        handoff = rule(talk.payload_id, None, match_type=MatchType.PAYLOAD, action=FlowAction.HANDOFF)
        decision = flow_match(text="Talk to a person", payload_id=talk.payload_id, state=None)
        assert decision.action == FlowAction.HANDOFF and decision.rule == handoff

    def test_unwired_tap_without_rule_uses_text_rules_then_fallback(self, answer):
        menu = button_template(titles=("Price list",))
        tap = menu.buttons.get()
        price_rule = rule("price list", answer)
        assert flow_match(text="Price list", payload_id=tap.payload_id, state=None).rule == price_rule
        price_rule.delete()
        flow_settings_update(fallback_template=answer)
        assert flow_match(text="", payload_id=tap.payload_id, state=None).reason == "fallback template"

    def test_button_with_only_a_state(self, answer):
        menu = button_template(titles=("Later",))
        later = wire(menu.buttons.get(), None, next_state="snoozed")
        decision = flow_match(text="Later", payload_id=later.payload_id, state=None)
        assert (decision.action, decision.template, decision.next_state) == (FlowAction.SET_STATE, None, "snoozed")

    def test_flow_match_writes_nothing(self, answer):
        menu = button_template(titles=("A",))
        wire(menu.buttons.get(), answer)
        state = flow_place(last_template=menu)
        tap = menu.buttons.get().payload_id
        with CaptureQueriesContext(connection) as queries:
            flow_match(text="A", payload_id=tap, state=state)
            flow_match(text="nothing", payload_id="", state=state)
        writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
        assert writes == []
