"""The periodic fan-out through a real Celery worker: beat's task runs in public, the job in each tenant."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from leads.models import Lead
from leads.selectors import lead_settings_get
from leads.services import lead_capture
from leads.tasks import leads_fanout_task
from leads.tests.factories import unique_mobile
from tests.support import wait_for


@pytest.mark.worker
def test_fanout_runs_the_sla_check_inside_each_tenant(celery_worker, live_db):
    with schema_context("alpha"):
        settings = lead_settings_get()
        lead = lead_capture(phone=unique_mobile(), fields={"name": "Overdue"}, source="website", actor="test")
        old = timezone.now() - timedelta(minutes=settings.first_contact_sla_minutes + 5)
        Lead.objects.filter(pk=lead.pk).update(created_at=old)
    try:
        # Sent from the public schema, as beat sends it.
        leads_fanout_task.delay(job="sla")

        def flagged():
            with schema_context("alpha"):
                return Lead.objects.filter(pk=lead.pk, sla_breached_at__isnull=False).exists()

        wait_for(flagged, timeout=30, what="the worker to flag the overdue lead")
    finally:
        with schema_context("alpha"):
            Lead.objects.filter(pk=lead.pk).delete()
