"""Request ids and JSON logs (bizmitra/request_id.py, settings/observability.py): echoed on every
answer, carried from the webhook through the Celery worker's ingest, engine and Graph send."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import re
import uuid

import pytest
from django.conf import settings
from django.test import Client

from bizmitra.request_id import HEADER, log_context, request_id_current, task_context_enter, task_context_exit
from conversations.tests.inbound_support import WEBHOOK_URL, as_bytes, contact, envelope, text_message
from conversations.whatsapp.signature import compute_signature
from tests.support import ROOT, wait_for


@pytest.fixture
def console():
    """The project's console handler (LOGGING's filters and formatter) writing to a buffer."""
    stream = io.StringIO()
    config = json.loads(json.dumps(settings.LOGGING))  # a copy: dictConfig mutates it
    config["handlers"]["console"]["stream"] = stream
    config["handlers"]["console"]["formatter"] = "json"
    logging.config.dictConfig(config)
    yield stream
    logging.config.dictConfig(settings.LOGGING)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_request_id_is_echoed_or_made(db, tenants_setup):
    client = Client()
    assert client.get("/healthz", headers={"X-Request-ID": "edge-42.a:b"})["X-Request-ID"] == "edge-42.a:b"
    made = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz")["X-Request-ID"] != made
    # Not an id (spaces, a header injection attempt, too long): replaced, never echoed.
    for bad in ("two words", "x" * 200, "<script>"):
        echoed = client.get("/healthz", headers={"X-Request-ID": bad})["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", echoed), bad
    # On tenant pages and error answers too.
    response = Client(HTTP_HOST="alpha.test").get("/no-such-page/", headers={"X-Request-ID": "tenant-404"})
    assert response.status_code == 404 and response["X-Request-ID"] == "tenant-404"


def test_access_log_line_is_json_with_request_id_and_schema(db, tenants_setup, console):
    response = Client(HTTP_HOST="alpha.test").get("/login/", headers={"X-Request-ID": "access-1"})
    (line,) = [entry for entry in lines(console) if entry["logger"] == "bizmitra.access"]
    assert line["request_id"] == "access-1"
    assert line["method"] == "GET" and line["path"] == "/login/" and line["status"] == response.status_code
    assert line["schema_name"] == "alpha"
    assert line["level"] == "INFO" and isinstance(line["duration_ms"], float)


def test_log_context_fields_and_extra_wamid(console):
    logger = logging.getLogger("tests.logging")
    with log_context(request_id="r-1", delivery_id=7):
        logger.warning("inside", extra={"wamid": "wamid.X"})
    logger.warning("outside")
    inside, outside = lines(console)
    assert (inside["request_id"], inside["delivery_id"], inside["wamid"]) == ("r-1", "7", "wamid.X")
    assert inside["schema_name"] == "public" and inside["message"] == "inside"
    assert outside["request_id"] == "" and outside["delivery_id"] == ""


def test_text_format_for_people(settings):
    from bizmitra.settings import observability

    readable = observability.LOGGING["formatters"]["readable"]["format"]
    assert "%(request_id)s" in readable and "%(schema_name)s" in readable
    assert settings.LOG_FORMAT in ("json", "text")


def test_celery_headers_carry_the_request_id():
    from bizmitra.request_id import task_headers_add

    headers: dict = {}
    task_headers_add(headers)
    assert HEADER not in headers  # nothing bound: no header
    with log_context(request_id="pub-1"):
        task_headers_add(headers)
    assert headers[HEADER] == "pub-1"

    class Request:
        bizmitra_request_id = "pub-1"

    class Task:
        name = "some.task"
        request = Request()

    task_context_enter("task-1", Task())
    assert request_id_current() == "pub-1"
    task_context_exit("task-1")
    assert request_id_current() == ""


@pytest.mark.worker
def test_webhook_request_id_reaches_the_workers_ingest_engine_and_send_lines(live_db, celery_worker, graph_sandbox):
    """The worker writes JSON lines (LOG_FORMAT=json in tests) to var/test-logs; every line of
    this webhook's story there carries the id the POST came with."""
    request_id = "trace-" + uuid.uuid4().hex
    wa_id = "1999" + str(uuid.uuid4().int)[:9]
    body = as_bytes(envelope(contacts=[contact(wa_id, "Trace")], messages=[text_message(wa_id, "hello trace")]))
    response = Client().post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": compute_signature(settings.META_APP_SECRET, body), "X-Request-ID": request_id},
    )
    assert response.status_code == 200 and response["X-Request-ID"] == request_id
    wait_for(lambda: [m for m in graph_sandbox.sent_messages if m["wa_id"] == wa_id], timeout=45, what="the reply")

    log_path = ROOT / "var" / "test-logs" / f"celery-worker-{os.getpid()}.log"

    def traced():
        found = []
        for raw in log_path.read_text(errors="replace").splitlines():
            if request_id in raw:
                found.append(json.loads(raw))  # every line that names it is a JSON object
        loggers = {entry["logger"] for entry in found}
        sent = [e for e in found if e["logger"] == "conversations.services.outbound_delivery" and e.get("wamid")]
        ingest = [e for e in found if e["message"].startswith("webhook delivery ")]
        engine = [e for e in found if e.get("task_name") == "conversations.engine.tasks.engine_handle_messages_task"]
        return (found, loggers) if sent and ingest and engine else None

    found, loggers = wait_for(traced, timeout=15, what=f"the worker's log lines with {request_id}")
    assert all(entry["request_id"] == request_id for entry in found)
    ingest_line = next(e for e in found if e["message"].startswith("webhook delivery "))
    assert ingest_line["schema_name"] == "public" and ingest_line["delivery_id"]
    assert ingest_line["task_name"].startswith("conversations.whatsapp.tasks.webhook_process")
    send_line = next(e for e in found if e.get("wamid"))
    assert send_line["schema_name"] == "alpha" and send_line["task_id"]
    assert send_line["wamid"].startswith("wamid.")
