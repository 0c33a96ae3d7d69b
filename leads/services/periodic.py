"""Registration of the leads app's periodic jobs with django-celery-beat."""

from bizmitra.periodic import periodic_task_ensure

# name -> (per-tenant job run by ``leads.tasks.leads_fanout_task``, every N seconds)
PERIODIC_JOBS = {
    "leads: first-contact SLA check": ("sla", 60),
    "leads: send due follow-ups": ("follow_ups", 60),
    "appointments: retry calendar sync": ("calendar_sync", 60),
    # Analytics reads past days from these roll-ups (bench/analytics.py says why).
    "analytics: roll up closed days": ("analytics_roll_up", 3600),
}
FANOUT_TASK = "leads.tasks.leads_fanout_task"


def leads_periodic_tasks_ensure() -> list[str]:
    """Create or update the beat entries of this app (idempotent; safe on every start).

    Beat runs in the public schema; each entry runs a fan-out task that queues
    the job once per active tenant, inside that tenant's schema.
    """
    for name, (job, seconds) in PERIODIC_JOBS.items():
        # A minute-late run is pointless once the next one is queued.
        periodic_task_ensure(
            name=name, task=FANOUT_TASK, every_seconds=seconds, kwargs={"job": job}, expire_seconds=seconds
        )
    return list(PERIODIC_JOBS)
