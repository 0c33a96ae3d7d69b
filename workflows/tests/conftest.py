import pytest
from django_tenants.utils import schema_context

from workflows.models import CommunicationWorkflow, WorkflowJob, WorkflowTrigger
from workflows.tests.support import email_settings_point_to, start_smtp_sink


@pytest.fixture(scope="session")
def smtp_server():
    sink, controller = start_smtp_sink()
    yield sink
    controller.stop()


@pytest.fixture
def smtp(smtp_server, live_db):
    """The local SMTP server, configured (committed) as Alpha's email settings."""
    smtp_server.fail_first = 0
    smtp_server.refused = 0
    with schema_context("alpha"):
        email_settings_point_to(smtp_server)
    return smtp_server


@pytest.fixture
def alpha_rules(live_db):
    """Create committed rules in Alpha (``alpha_rules(**fields)``); they and their jobs go at teardown."""
    from workflows.tests.support import make_workflow

    created: list[CommunicationWorkflow] = []

    def create(**fields) -> CommunicationWorkflow:
        with schema_context("alpha"):
            rule = make_workflow(**fields)
        created.append(rule)
        return rule

    yield create
    with schema_context("alpha"):
        triggers = {rule.trigger for rule in created}
        WorkflowJob.objects.filter(trigger__in=triggers).delete()
        WorkflowTrigger.objects.filter(trigger__in=triggers).delete()
        CommunicationWorkflow.objects.filter(pk__in=[rule.pk for rule in created]).delete()
