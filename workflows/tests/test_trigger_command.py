"""manage.py trigger_workflow: the same service as the API, and --watch follows the jobs."""

import io

import pytest
from django.core.management import CommandError, call_command

from workflows.tests.support import random_phone, unique_trigger


@pytest.mark.worker
def test_delayed_trigger_is_watched_until_it_completes(alpha, alpha_rules, smtp, celery_worker):
    rule = alpha_rules(trigger=unique_trigger(), channel="email", template_name="", email_subject="Hi {{1}}", body="B")
    out = io.StringIO()
    call_command(
        "trigger_workflow",
        "--client-code",
        alpha.tenant.client_code.lower(),
        "--phone",
        random_phone(),
        "--trigger",
        rule.trigger,
        "--email",
        "cli@example.com",
        "--variables",
        '["Asha"]',
        "--delay",
        "2",
        "--watch",
        "--interval",
        "0.1",
        "--timeout",
        "90",
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    states = [line for line in lines if " job " in line]
    assert "pending" in states[0] and "completed" in states[-1]
    assert any('"jobIds"' in line for line in lines)
    assert smtp.to("cli@example.com")


@pytest.mark.django_db
def test_errors_are_reported_with_the_field(alpha):
    with pytest.raises(CommandError, match="phone"):
        call_command("trigger_workflow", "--client-code", "ALPHA", "--phone", "123", "--trigger", "lead_captured")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("trigger_workflow", "--client-code", "NOPE", "--phone", random_phone(), "--trigger", "x_y")


@pytest.mark.django_db
def test_no_rules_means_nothing_scheduled(alpha):
    out = io.StringIO()
    call_command(
        "trigger_workflow",
        "--client-code",
        "ALPHA",
        "--phone",
        random_phone(),
        "--trigger",
        unique_trigger(),
        stdout=out,
    )
    assert "nothing scheduled" in out.getvalue()
