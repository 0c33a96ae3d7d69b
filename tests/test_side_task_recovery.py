"""Side tasks lost with the broker are found again from the database and run (issue 13 §2).

Each test leaves a row owing work with no Celery message for it — as a Redis restart without
persistence leaves it — then sends the beat entry the way beat does (from the public schema)
to the session's real worker, and waits for the work to be done.
"""

import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations.choices import Direction, MediaStatus, MessageStatus, MessageType
from conversations.models import Contact, Conversation, Message, PendingStatus
from conversations.selectors import pending_status_count
from conversations.services.sweeps import pending_statuses_expire
from conversations.tasks.inbound import media_owed_sweep_task
from conversations.tasks.outbound import pending_statuses_expire_task
from documents.choices import DocumentStatus
from documents.models import Document
from documents.services import document_create_from_upload
from documents.tasks import documents_owed_sweep_task
from documents.tests.samples import Invoice, invoice_png
from tests.support import wait_for
from tests.tenancy import ALPHA

pytestmark = pytest.mark.worker

SCHEMA = ALPHA["schema_name"]
JPEG = b"\xff\xd8\xff\xe0" + b"fake jpeg bytes " * 64
LONG_AGO = timedelta(hours=2)


def test_a_media_download_whose_task_was_lost_is_fetched_by_the_sweep(live_db, celery_worker, graph_sandbox):
    media_id = str(uuid.uuid4().int % 10**15)
    graph_sandbox.add_media(media_id, JPEG, "image/jpeg", phone_number_id=ALPHA["phone_number_id"])
    with schema_context(SCHEMA):
        contact = Contact.objects.create(wa_id=f"9199{uuid.uuid4().int % 10**8:08d}")
        conversation = Conversation.objects.create(contact=contact, phone_number_id=ALPHA["phone_number_id"])
        # What ingest stores for an inbound image; its media_fetch_task went down with Redis.
        message = Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type=MessageType.IMAGE,
            wamid=f"wamid.lost-{uuid.uuid4().hex}",
            status=MessageStatus.RECEIVED,
            timestamp=timezone.now(),
            media_id=media_id,
            media_status=MediaStatus.PENDING,
        )
        Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - LONG_AGO)

    media_owed_sweep_task.delay()

    def downloaded():
        with schema_context(SCHEMA):
            return Message.objects.get(pk=message.pk).media_status == MediaStatus.DOWNLOADED

    wait_for(downloaded, timeout=60, what="the sweep to fetch the forgotten media")


def test_a_recent_pending_download_is_left_to_its_own_task(live_db, celery_worker):
    from conversations.services.sweeps import media_fetches_owed_requeue

    with schema_context(SCHEMA):
        contact = Contact.objects.create(wa_id=f"9198{uuid.uuid4().int % 10**8:08d}")
        conversation = Conversation.objects.create(contact=contact, phone_number_id=ALPHA["phone_number_id"])
        Message.objects.create(
            conversation=conversation,
            direction=Direction.INBOUND,
            type=MessageType.IMAGE,
            wamid=f"wamid.fresh-{uuid.uuid4().hex}",
            status=MessageStatus.RECEIVED,
            timestamp=timezone.now(),
            media_id="1",
            media_status=MediaStatus.PENDING,
        )
        assert media_fetches_owed_requeue(owed_after=timedelta(minutes=15)) == 0


def test_document_readings_lost_with_the_broker_or_their_worker_are_run_by_the_sweep(live_db, celery_worker):
    with schema_context(SCHEMA):
        document = document_create_from_upload(upload=SimpleUploadedFile("invoice.png", invoice_png(Invoice())))

    def status():
        with schema_context(SCHEMA):
            return Document.objects.get(pk=document.pk)

    wait_for(lambda: status().status == DocumentStatus.DONE, timeout=120, what="the first reading")
    with schema_context(SCHEMA):
        # "Read again" was queued, then Redis restarted: the row is queued, no task exists.
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.QUEUED, updated_at=timezone.now() - LONG_AGO
        )
    documents_owed_sweep_task.delay()
    wait_for(lambda: status().status == DocumentStatus.DONE, timeout=120, what="the sweep to read it again")
    assert status().attempts == 2

    with schema_context(SCHEMA):
        # A worker died mid-reading: the redelivered task finds it "processing" and stops.
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.PROCESSING, processing_started_at=timezone.now() - timedelta(days=1)
        )
    documents_owed_sweep_task.delay()
    wait_for(lambda: status().status == DocumentStatus.DONE, timeout=120, what="the stale reading to be redone")
    assert status().attempts == 3

    with schema_context(SCHEMA):
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.PROCESSING, processing_started_at=timezone.now() - timedelta(days=1)
        )
    documents_owed_sweep_task.delay()  # three readings never finished: it fails, visibly
    wait_for(lambda: status().status == DocumentStatus.FAILED, timeout=60, what="the document to fail for good")
    assert "never finished" in status().failure_reason


def test_parked_statuses_expire_after_metas_seven_day_retry_horizon(live_db, celery_worker):
    old, fresh = f"wamid.old-{uuid.uuid4().hex}", f"wamid.new-{uuid.uuid4().hex}"
    with schema_context(SCHEMA):
        PendingStatus.objects.filter(wamid__startswith="wamid.").delete()
        before = pending_status_count()
        for wamid in (old, fresh):
            PendingStatus.objects.create(wamid=wamid, status="delivered", timestamp=timezone.now())
        PendingStatus.objects.filter(wamid=old).update(created_at=timezone.now() - timedelta(days=7, minutes=1))
        assert pending_status_count() == before + 2

    pending_statuses_expire_task.delay()  # beat's entry, fanned out to every tenant

    def expired():
        with schema_context(SCHEMA):
            return not PendingStatus.objects.filter(wamid=old).exists()

    wait_for(expired, timeout=60, what="the parked status to expire")
    with schema_context(SCHEMA):
        assert PendingStatus.objects.filter(wamid=fresh).exists()
        assert pending_status_count() == before + 1
        assert pending_statuses_expire() == 0


def test_the_sweeps_are_registered_with_beat(db):
    from django_celery_beat.models import PeriodicTask

    from bizmitra.periodic import periodic_tasks_ensure_all

    periodic_tasks_ensure_all()
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {
        "conversations.tasks.inbound.media_owed_sweep_task",
        "conversations.tasks.outbound.pending_statuses_expire_task",
        "documents.documents_owed_sweep",
    } <= tasks
