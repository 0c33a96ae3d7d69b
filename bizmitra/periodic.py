"""Periodic work: one way to register a beat entry, one way to run a job in every tenant.

Beat entries. django-celery-beat keeps the schedule in the database; each app owns a
``*_periodic_tasks_ensure()`` that writes its rows through ``periodic_task_ensure`` (one
implementation: idempotent, saves only what differs, since every save of a PeriodicTask
makes beat reload its whole schedule) and registers it from its ``AppConfig.ready`` with
``periodic_tasks_register`` (the kernel imports no app). They run after every migration of the public schema
(so `make run`, the docker/k8s migrate step and the test database all get them) and on
demand with ``python manage.py ensure_periodic_tasks``. Intervals come from settings where
operators tune them (ENGINE_SWEEP_EVERY_SECONDS, WHATSAPP_*_EVERY_SECONDS), so a fresh
database gets the environment's values. (Kept as rows, not ``CELERY_BEAT_SCHEDULE``:
DatabaseScheduler would sync that dict only when beat starts, and tests and operators read
and edit the rows in the admin before any beat runs.)

Fan-out. Beat runs in the public schema; a per-tenant job is queued once in each *active*
tenant's schema by ``tenants_fan_out`` (tenant-schemas-celery carries the schema to the
worker). tenant-schemas-celery's own TenantAwareDatabaseScheduler would fan entries out in
beat itself, but it reads beat tables in every tenant schema (ours are public-only) and
includes inactive tenants.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import connection
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

_ensurers: dict[str, Callable[[], object]] = {}


def periodic_tasks_register(*ensurers: Callable[[], object]) -> None:
    """Add an app's ``*_periodic_tasks_ensure`` functions (call from ``AppConfig.ready``)."""
    for ensure in ensurers:
        _ensurers[f"{ensure.__module__}.{ensure.__qualname__}"] = ensure


def active_tenant_schemas() -> list[str]:
    """The schema names of every active tenant (never the public schema)."""
    public = get_public_schema_name()
    with schema_context(public):
        return list(
            get_tenant_model()
            .objects.filter(is_active=True)
            .exclude(schema_name=public)
            .order_by("schema_name")
            .values_list("schema_name", flat=True)
        )


def tenants_fan_out(task, **kwargs: Any) -> int:
    """Queue ``task`` (a Celery task) once in every active tenant's schema; how many were queued."""
    schemas = active_tenant_schemas()
    for schema_name in schemas:
        with schema_context(schema_name):
            task.delay(**kwargs)
    return len(schemas)


def periodic_task_ensure(
    *,
    name: str,
    task: str,
    every_seconds: int,
    kwargs: dict[str, Any] | None = None,
    expire_seconds: int | None = None,
    description: str = "",
) -> bool:
    """Create or update the beat entry ``name`` (public schema); True when it was written.

    ``expire_seconds``: a run that could not start within it is dropped (the next one is
    queued by then)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    with schema_context(get_public_schema_name()):
        schedule = IntervalSchedule.objects.filter(every=every_seconds, period=IntervalSchedule.SECONDS).first()
        if schedule is None:
            schedule = IntervalSchedule.objects.create(every=every_seconds, period=IntervalSchedule.SECONDS)
        wanted: dict[str, Any] = {
            "task": task,
            "interval": schedule,
            "kwargs": json.dumps(kwargs or {}),
            "enabled": True,
            "expire_seconds": expire_seconds,
            "description": description,
        }
        row = PeriodicTask.objects.filter(name=name).first()
        if row is None:
            PeriodicTask.objects.create(name=name, **wanted)
            return True
        changed = [field for field, value in wanted.items() if getattr(row, field) != value]
        if not changed:
            return False
        for field in changed:
            setattr(row, field, wanted[field])
        row.save(update_fields=changed)
        return True


def periodic_tasks_ensure_all() -> list[str]:
    """Run every registered ensure function in the public schema; return the ones that ran."""
    connection.set_schema_to_public()
    done = []
    for path, ensure in _ensurers.items():
        ensure()
        done.append(path)
    return done


def ensure_after_public_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate receiver: only for the public schema, once per migrate run."""
    if connection.schema_name != "public" or sender.name != "django_celery_beat":
        return
    periodic_tasks_ensure_all()
