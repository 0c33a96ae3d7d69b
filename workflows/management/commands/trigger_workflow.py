"""Fire a workflow trigger from the shell, through the same service as the trigger API.

    python manage.py trigger_workflow --client-code DEMO --phone 918143963821 \
        --trigger appointment_confirmed --variables '["Dhanesh", "Dr. Arjun"]' --watch
    python manage.py trigger_workflow --client-code DEMO --phone 918143963821 \
        --trigger appointment_reminder --delay 300 --watch

``--delay`` (seconds) replaces the rules' own delays, like the API's delayMinutes.
``--watch`` follows the jobs (needs a running worker; beat for jobs due beyond the
hand-off horizon) and prints each state change until every job has finished; the
exit status is 0 when all completed, 1 if any failed or was cancelled, 2 on timeout.
"""

import json
import sys
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tenants.utils import schema_context

from bizmitra.errors import ApplicationError
from tenants.selectors import tenant_get_by_client_code
from workflows.choices import TERMINAL_JOB_STATUSES, CallbackState, JobStatus
from workflows.models import WorkflowJob
from workflows.services import workflow_trigger_fire


def _json_arg(value: str, name: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--{name} must be JSON: {exc}") from None


class Command(BaseCommand):
    help = "Fire a workflow trigger for a tenant (by client code) and optionally watch its jobs."

    def add_arguments(self, parser):
        parser.add_argument("--client-code", required=True)
        parser.add_argument("--phone", required=True)
        parser.add_argument("--trigger", required=True)
        parser.add_argument("--delay", type=float, help="Seconds; replaces each rule's delay (negative: before).")
        parser.add_argument("--variables", default="[]", help='JSON list or object, e.g. \'["Asha", "10 AM"]\'.')
        parser.add_argument("--email", default="")
        parser.add_argument("--base-time", help="ISO 8601; default now.")
        parser.add_argument("--callback-url", default="")
        parser.add_argument("--metadata", default="{}", help="callbackMetadata as JSON.")
        parser.add_argument("--idempotency-key")
        parser.add_argument("--allow-late", action="store_true")
        parser.add_argument("--watch", action="store_true", help="Follow the jobs until they finish.")
        parser.add_argument("--timeout", type=float, default=900, help="Seconds to watch before giving up.")
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between polls while watching.")

    def handle(self, *args, **opts):
        tenant = tenant_get_by_client_code(client_code=opts["client_code"])
        if tenant is None:
            raise CommandError(f"No tenant with client code {opts['client_code']!r}.")
        base_time = None
        if opts["base_time"]:
            base_time = parse_datetime(opts["base_time"])
            if base_time is None:
                raise CommandError("--base-time must be an ISO 8601 date and time.")
            if timezone.is_naive(base_time):
                base_time = timezone.make_aware(base_time)
        with schema_context(tenant.schema_name):
            try:
                result = workflow_trigger_fire(
                    trigger=opts["trigger"],
                    phone=opts["phone"],
                    variables=_json_arg(opts["variables"], "variables"),
                    email=opts["email"],
                    base_time=base_time,
                    delay=timedelta(seconds=opts["delay"]) if opts["delay"] is not None else None,
                    callback_url=opts["callback_url"],
                    callback_metadata=_json_arg(opts["metadata"], "metadata"),
                    idempotency_key=opts["idempotency_key"],
                    allow_late=opts["allow_late"],
                )
            except ApplicationError as exc:
                detail = "; ".join(f"{f}: {' '.join(map(str, r))}" for f, r in exc.fields.items())
                raise CommandError(f"{exc.message} {detail}".strip()) from None
            self.stdout.write(json.dumps(result.response, indent=2))
            if not result.response["jobIds"]:
                self.stdout.write(f"No active workflow for trigger {opts['trigger']!r}: nothing scheduled.")
                return
            if opts["watch"]:
                code = self._watch(result.response["jobIds"], timeout=opts["timeout"], interval=opts["interval"])
                if code:
                    sys.exit(code)

    def _describe(self, job: WorkflowJob) -> str:
        text = f"{job.status}"
        if job.attempts:
            text += f" (attempt {job.attempts}/{job.max_attempts})"
        if job.status == JobStatus.PENDING and job.next_run_at > timezone.now():
            text += f", due {job.next_run_at:%H:%M:%S}"
        if job.message_id:
            text += f", message {job.message_id}"
        if job.last_error and job.status != JobStatus.COMPLETED:
            text += f" — {job.last_error}"
        if job.callback_state != CallbackState.NONE:
            text += f"; callback {job.callback_state}"
            if job.callback_last_status_code:
                text += f" (HTTP {job.callback_last_status_code})"
        return text

    def _watch(self, job_ids: list[str], *, timeout: float, interval: float) -> int:
        seen: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while True:
            jobs = list(WorkflowJob.objects.filter(pk__in=job_ids))
            for job in jobs:
                state = self._describe(job)
                if seen.get(str(job.pk)) != state:
                    seen[str(job.pk)] = state
                    self.stdout.write(f"{timezone.now():%H:%M:%S.%f}"[:-3] + f" job {job.pk}: {state}")
            settled = all(
                j.status in TERMINAL_JOB_STATUSES
                and j.callback_state in (CallbackState.NONE, CallbackState.DELIVERED, CallbackState.FAILED)
                for j in jobs
            )
            if settled:
                return 0 if all(j.status == JobStatus.COMPLETED for j in jobs) else 1
            if time.monotonic() > deadline:
                self.stderr.write(f"Gave up watching after {timeout:g} s.")
                return 2
            time.sleep(interval)
