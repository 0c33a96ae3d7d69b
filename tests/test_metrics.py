"""Prometheus /metrics (bizmitra/metrics.py): token, multiprocess, a real webhook → reply round trip,
and the alert rules and dashboard in k8s/base/monitoring/ only name metrics the app exports."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid

import pytest
import redis
import yaml
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from bizmitra import metrics
from conversations.tests.inbound_support import contact, envelope, post_webhook, text_message
from conversations.whatsapp.models import WebhookDelivery
from tests.support import ROOT, free_port, wait_for

MONITORING = ROOT / "k8s" / "base" / "monitoring"


def scrape(client: Client | None = None, **headers) -> dict[tuple[str, frozenset], float]:
    response = (client or Client()).get("/metrics", headers=headers)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_metrics_is_open_without_a_token_on_any_host(db, tenants_setup, settings):
    settings.METRICS_TOKEN = ""
    for host in ("testserver", "alpha.test", "unknown.example"):
        samples = scrape(Client(HTTP_HOST=host))
        assert value(samples, "bizmitra_queue_depth", role="ingest") >= 0
        assert ("bizmitra_messages_received_total", frozenset()) in samples


def test_metrics_requires_the_bearer_token_when_set(db, tenants_setup, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    client = Client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"bizmitra_" not in response.content
    assert scrape(client, Authorization="Bearer s3cret-token")


def test_queue_depth_reads_each_queues_redis_list(db, settings):
    name = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-probe-{uuid.uuid4().hex[:6]}"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        broker.rpush(name, "a", "b", "c")
        broker.rpush(f"{name}\x06\x166", "d")  # a priority step kombu keeps in its own list
        (family,) = metrics.QueueDepthCollector(queues={"probe": name}).collect()
        assert [(s.labels, s.value) for s in family.samples] == [({"queue": name, "role": "probe"}, 4.0)]
    finally:
        broker.delete(name, f"{name}\x06\x166")


def test_dead_lettered_webhook_deliveries_are_counted(db, tenants_setup):
    from conversations.metrics import database_gauges_forget
    from conversations.whatsapp.ingest import MAX_ATTEMPTS

    database_gauges_forget()
    before = value(scrape(), "bizmitra_dead_letters", kind="webhook_deliveries")
    WebhookDelivery.objects.create(
        body=b"{}", received_at="2026-01-01T00:00:00Z", state=WebhookDelivery.State.FAILED, attempts=MAX_ATTEMPTS
    )
    WebhookDelivery.objects.create(  # still retried by the sweeper: not a dead letter yet
        body=b"{}", received_at="2026-01-01T00:00:00Z", state=WebhookDelivery.State.FAILED, attempts=1
    )
    database_gauges_forget()
    samples = scrape()
    assert value(samples, "bizmitra_dead_letters", kind="webhook_deliveries") == before + 1
    assert ("bizmitra_pending_statuses", frozenset()) in samples


def test_worker_port_serves_metrics_with_the_same_token_rule(settings):
    settings.METRICS_TOKEN = "worker-token"
    port = free_port()
    server = metrics.worker_metrics_serve(port=port, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": "Bearer worker-token"})
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
        assert "bizmitra_whatsapp_sends_total" in text or "bizmitra_messages_received_total" in text
        assert "bizmitra_queue_depth" not in text  # scrape-time gauges come from the web pods only
    finally:
        server.shutdown()
        server.server_close()


def test_domain_events_and_ai_completions_are_counted(db, settings):
    """Counted by listeners of events the services publish already (called here directly: a real
    publish would also wake the engine and lead scoring), and by the AI's one line."""
    from types import SimpleNamespace

    from bizmitra.events import _listeners

    assert metrics._count_received in _listeners["messages.received"]
    assert metrics._count_status in _listeners["message.status"]
    assert metrics._count_document in _listeners["document.processed"] + _listeners["document.failed"]
    settings.AI_COST_PER_MILLION_PROMPT_TOKENS_USD = 2.0
    settings.AI_COST_PER_MILLION_COMPLETION_TOKENS_USD = 8.0
    before = scrape()
    event = {"schema_name": "alpha"}
    metrics._count_received(event_name="messages.received", message_ids=[1, 2, 3], **event)
    metrics._count_status(event_name="message.status", message_id=1, status="dead", **event)
    metrics._count_document(event_name="document.processed", document_id=1, **event)
    metrics._count_document(event_name="document.failed", document_id=2, reason="unreadable", **event)
    metrics.ai_completion(SimpleNamespace(prompt_tokens=1_000, completion_tokens=500))
    metrics.limiter_waited(0.25)
    after = scrape()

    def grew(name, **labels):
        return round(value(after, name, **labels) - value(before, name, **labels), 9)

    assert grew("bizmitra_messages_received_total") == 3
    assert grew("bizmitra_message_statuses_total", status="dead") == 1
    assert grew("bizmitra_documents_processed_total", state="done") == 1
    assert grew("bizmitra_documents_processed_total", state="failed") == 1
    assert grew("bizmitra_ai_tokens_total", kind="prompt") == 1_000
    assert grew("bizmitra_ai_tokens_total", kind="completion") == 500
    assert grew("bizmitra_ai_cost_usd_total") == round((1_000 * 2.0 + 500 * 8.0) / 1_000_000, 9)
    assert grew("bizmitra_limiter_waits_total") == 1
    assert grew("bizmitra_limiter_wait_seconds_total") == 0.25


@pytest.mark.worker
def test_webhook_to_reply_round_trip_shows_in_metrics(live_db, celery_worker, graph_sandbox, settings):
    """The webhook is answered in this process (the web side); ingest, engine and the Graph send
    run in the Celery worker's pool processes. Their counters show in this process's /metrics
    through the shared PROMETHEUS_MULTIPROC_DIR."""
    settings.METRICS_TOKEN = ""
    before = scrape()
    wa_id = "1888" + str(uuid.uuid4().int)[:9]
    payload = envelope(contacts=[contact(wa_id, "Metrics")], messages=[text_message(wa_id, "hello metrics")])
    assert post_webhook(payload).status_code == 200

    wait_for(
        lambda: [m for m in graph_sandbox.sent_messages if m["wa_id"] == wa_id],
        timeout=45,
        what="the bot's reply at the Graph sandbox",
    )

    def counted():
        samples = scrape()
        grew = {
            name: value(samples, name, **labels) - value(before, name, **labels)
            for name, labels in (
                ("bizmitra_webhook_requests_total", {"method": "POST", "status": "200"}),
                ("bizmitra_webhook_request_seconds_count", {"method": "POST"}),
                ("bizmitra_webhook_deliveries_processed_total", {"outcome": "processed"}),
                ("bizmitra_messages_received_total", {}),
                ("bizmitra_engine_decisions_total", {}),
                ("bizmitra_engine_answer_seconds_count", {}),
                ("bizmitra_whatsapp_sends_total", {"outcome": "sent"}),
                ("bizmitra_message_statuses_total", {"status": "sent"}),
            )
        }
        return grew if all(v >= 1 for v in grew.values()) else None

    try:
        wait_for(counted, timeout=20, what="the round trip's counters in /metrics")
    except AssertionError:
        pytest.fail(f"counters did not all grow: {_growth(before, scrape())}")


def _growth(before, after) -> dict:
    changed = [k for k in after if k[0].startswith("bizmitra_") and after[k] != before.get(k)]
    return {k[0]: after[k] - before.get(k, 0) for k in changed}


# --- k8s/base/monitoring ------------------------------------------------------------------------

_NAME = re.compile(r"\bbizmitra_[a-z0-9_]+\b")


def _names_in(expr: str) -> set[str]:
    return set(_NAME.findall(expr))


def test_alert_rules_name_only_exported_metrics():
    rules = yaml.safe_load((MONITORING / "alert-rules.yaml").read_text())
    assert rules["kind"] == "PrometheusRule"
    exported = metrics.metric_names()
    alerts = [rule for group in rules["spec"]["groups"] for rule in group["rules"]]
    assert {"BizMitraWebhook5xx", "BizMitraReplyQueueBacklog", "BizMitraSendFailureRate", "BizMitraDeadLetters"} <= {
        rule["alert"] for rule in alerts
    }
    for rule in alerts:
        named = _names_in(rule["expr"])
        assert named, rule["alert"]
        assert named <= exported, (rule["alert"], named - exported)
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_grafana_dashboard_queries_only_exported_metrics():
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exported = metrics.metric_names()
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert exprs
    for expr in exprs:
        assert _names_in(expr) and _names_in(expr) <= exported, expr
    # The dashboard covers every metric the app defines.
    queried = set().union(*(_names_in(e) for e in exprs))
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exported}
    assert families <= {re.sub(r"_(bucket|sum|count)$", "", n) for n in queried}


def test_scrape_config_uses_the_metrics_token():
    monitors = {
        doc["metadata"]["name"]: doc for doc in yaml.safe_load_all((MONITORING / "pod-monitors.yaml").read_text())
    }
    assert set(monitors) == {"bizmitra-web", "bizmitra-worker"}
    for name, monitor in monitors.items():
        assert monitor["kind"] == "PodMonitor"
        assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == name.split("-")[1]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["authorization"] == {
            "type": "Bearer",
            "credentials": {"name": "bizmitra-secrets", "key": "METRICS_TOKEN"},
        }
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {"alert-rules.yaml", "pod-monitors.yaml"}
    assert kustomization["configMapGenerator"][0]["files"] == ["grafana-dashboard.json"]


def test_multiprocess_directory_is_shared_with_the_workers():
    # The test run's processes (this one, the Celery worker, granian) write there.
    assert settings.PROMETHEUS_MULTIPROC_DIR
    assert metrics._MULTIPROC_DIR == settings.PROMETHEUS_MULTIPROC_DIR
