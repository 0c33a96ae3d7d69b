"""Registration of the leads app's periodic jobs with django-celery-beat."""

from django.db import transaction
from django_tenants.utils import get_public_schema_name, schema_context

# name -> (per-tenant job run by ``leads.tasks.leads_fanout_task``, every N seconds)
PERIODIC_JOBS = {
    "leads: first-contact SLA check": ("sla", 60),
    "leads: send due follow-ups": ("follow_ups", 60),
    "appointments: retry calendar sync": ("calendar_sync", 60),
}
FANOUT_TASK = "leads.tasks.leads_fanout_task"


def leads_periodic_tasks_ensure() -> list[str]:
    """Create or update the beat entries of this app (idempotent; safe on every start).

    Beat runs in the public schema; each entry runs a fan-out task that queues
    the job once per active tenant, inside that tenant's schema.
    """
    import json

    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    names = []
    with schema_context(get_public_schema_name()), transaction.atomic():
        for name, (job, seconds) in PERIODIC_JOBS.items():
            schedule = IntervalSchedule.objects.filter(every=seconds, period=IntervalSchedule.SECONDS).first()
            if schedule is None:
                schedule = IntervalSchedule.objects.create(every=seconds, period=IntervalSchedule.SECONDS)
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={
                    "task": FANOUT_TASK,
                    "interval": schedule,
                    "kwargs": json.dumps({"job": job}),
                    "enabled": True,
                    # A minute-late run is pointless once the next one is queued.
                    "expire_seconds": seconds,
                },
            )
            names.append(name)
    return names
