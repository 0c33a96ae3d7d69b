"""bizmitra.periodic: one way to register a beat entry and one way to run a job in every
active tenant (the engine, outbound, leads and workflows sweeps all go through them)."""

import json

import pytest
from django_celery_beat.models import PeriodicTask
from django_tenants.utils import get_public_schema_name, schema_context

from bizmitra.periodic import active_tenant_schemas, periodic_task_ensure, tenants_fan_out
from tenants.models import Tenant


class _Recorder:
    """Stands in for a Celery task at the edge: records the schema each ``delay`` ran in."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def delay(self, **kwargs) -> None:
        from django.db import connection

        self.calls.append((connection.schema_name, kwargs))


def test_fan_out_queues_once_per_active_tenant_in_its_schema(db, alpha, beta):
    Tenant.objects.filter(pk=beta.tenant.pk).update(is_active=False)
    recorder = _Recorder()
    count = tenants_fan_out(recorder, job="x")
    schemas = [schema for schema, _ in recorder.calls]
    assert count == len(recorder.calls) == len(active_tenant_schemas())
    assert "alpha" in schemas and "beta" not in schemas and get_public_schema_name() not in schemas
    assert all(kwargs == {"job": "x"} for _, kwargs in recorder.calls)


def test_periodic_task_ensure_writes_only_what_differs(db):
    name = "test: periodic_task_ensure"
    assert periodic_task_ensure(name=name, task="a.b", every_seconds=17, kwargs={"k": 1}, expire_seconds=17)
    assert not periodic_task_ensure(name=name, task="a.b", every_seconds=17, kwargs={"k": 1}, expire_seconds=17)
    with schema_context(get_public_schema_name()):
        PeriodicTask.objects.filter(name=name).update(enabled=False)  # switched off by hand
    assert periodic_task_ensure(name=name, task="a.b", every_seconds=23, kwargs={"k": 1}, expire_seconds=17)
    with schema_context(get_public_schema_name()):
        row = PeriodicTask.objects.get(name=name)
    assert (row.enabled, row.interval.every, json.loads(row.kwargs), row.expire_seconds) == (True, 23, {"k": 1}, 17)


@pytest.mark.parametrize(
    "ensure",
    [
        "conversations.services.outbound.outbound_periodic_tasks_ensure",
        "conversations.whatsapp.ingest.webhook_periodic_tasks_ensure",
        "workflows.services.workflow_periodic_tasks_ensure",
        "leads.services.leads_periodic_tasks_ensure",
    ],
)
def test_each_apps_entries_are_idempotent(db, ensure):
    from django.utils.module_loading import import_string

    with schema_context(get_public_schema_name()):
        before = PeriodicTask.objects.count()
        import_string(ensure)()
        after_first = PeriodicTask.objects.count()
        import_string(ensure)()
        assert PeriodicTask.objects.count() == after_first >= before


def test_every_app_registers_its_beat_entries_and_the_command_writes_them(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ensure_periodic_tasks", stdout=out)
    ran = out.getvalue()
    for ensure in (
        "conversations.services.outbound.outbound_periodic_tasks_ensure",
        "conversations.whatsapp.ingest.webhook_periodic_tasks_ensure",
        "conversations.engine.services.engine_periodic_tasks_ensure",
        "workflows.services.dispatch.workflow_periodic_tasks_ensure",
        "leads.services.periodic.leads_periodic_tasks_ensure",
    ):
        assert f"ensured {ensure}" in ran
    with schema_context(get_public_schema_name()):
        tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {
        "conversations.engine.tasks.engine_owed_sweep_task",
        "conversations.tasks.outbound.outbound_reconcile_task",
        "conversations.whatsapp.tasks.webhook_sweep_task",
        "leads.tasks.leads_fanout_task",
    } <= tasks
