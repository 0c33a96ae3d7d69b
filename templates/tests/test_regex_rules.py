"""Regex flow rules run on RE2: customer text cannot make a rule take exponential time, and
patterns that only a backtracking engine can run (or that are the classic catastrophic
shapes) are refused where staff write them, with the reason next to the field."""

import threading

import pytest

from templates.choices import FlowAction, MatchType
from templates.models import FlowRule
from templates.tests.factories import text_template
from templates.text import regex_error, regex_matches
from templates.validation import flow_rule_problems
from tests.tenancy import tenant_client

ADD = "/admin/message_templates/flowrule/add/"


def finishes(function, *args, within: float = 20.0):
    """Run ``function`` in a thread; its result, or a failure if it is still running after
    ``within`` seconds (a backtracking engine takes longer than the universe's age here)."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(function(*args)), daemon=True)
    worker.start()
    worker.join(within)
    assert not worker.is_alive(), f"{function.__name__}{args[1:]!r} is still running: exponential backtracking"
    return result[0]


def test_an_ambiguous_alternation_on_hostile_text_answers_at_once():
    # (a|a)* is accepted (no nested repetition), and backtracks 2^n ways in stdlib re.
    pattern = r"^(a|a)*$"
    assert regex_error(pattern) is None
    hostile = "a" * 60 + "!"
    assert finishes(regex_matches, hostile, pattern) is False
    assert regex_matches("a" * 60, pattern) is True


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a+)+$", "repeats a group that itself repeats without bound"),
        (r"^(\w+\s?)*$", "repeats a group that itself repeats without bound"),
        (r"(\d*)*x", "repeats a group that itself repeats without bound"),
        (r"(a)\1", "backreference"),
        (r"(?=order)\w+", "lookahead"),
        (r"(?<!no )refund", "lookbehind"),
        (r"(x{500}){500}", "more than 1000 times"),
        ("x" * 501, "longer than 500 characters"),
        ("(oops", "does not compile"),
    ],
)
def test_patterns_that_could_hang_or_cannot_run_are_refused_with_the_reason(pattern, reason):
    [problem] = flow_rule_problems(match_type=MatchType.REGEX, pattern=pattern, action=FlowAction.HANDOFF)
    assert problem.field == "pattern"
    assert problem.message.startswith("This regular expression ") and reason in problem.message


def test_ordinary_patterns_still_match_case_and_accent_insensitively():
    for pattern in (r"^order\s+\d+$", r"(ab|cd)+", r"\b(refund|return)s?\b", r"[0-9]{6}"):
        assert regex_error(pattern) is None, pattern
    assert regex_matches("ORDER 42", r"^order\s+\d+$")
    assert regex_matches("Quiero un reembolsó", r"reembolso")
    assert regex_matches("pin 560001", r"[0-9]{6}")
    assert not regex_matches("order forty", r"^order\s+\d+$")


def test_the_admin_refuses_a_catastrophic_pattern_next_to_the_field(in_alpha, alpha):
    owner = tenant_client(alpha, login=True)
    answer = text_template()
    base = {
        "name": "hostile",
        "priority": "5",
        "is_active": "on",
        "required_state": "",
        "template": str(answer.pk),
        "next_state": "",
        "action": "send_template",
        "match_type": "regex",
    }
    page = owner.post(ADD, {**base, "pattern": r"(a+)+$"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "can take exponentially long on some messages" in html
    assert "field-pattern" in html  # the message sits in the pattern field's row
    assert not FlowRule.objects.filter(name="hostile").exists()
    saved = owner.post(ADD, {**base, "pattern": r"^order\s+\d+$"})
    assert saved.status_code == 302 and FlowRule.objects.filter(name="hostile").exists()
