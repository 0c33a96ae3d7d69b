"""Prometheus metrics: every metric BizMitra exports is defined here, and ``/metrics`` serves them.

One home for names, help texts and labels (the alert rules and the Grafana dashboard in
``k8s/base/monitoring/`` query exactly these; ``tests/test_metrics.py`` checks they exist).
Other modules add one line where the thing happens (``metrics.SENDS.labels(outcome=…).inc()``)
or count in a domain-event listener below; the kernel imports no app.

Multiprocess: granian runs several web workers and Celery forks pool processes, and each
keeps its own counters. With ``PROMETHEUS_MULTIPROC_DIR`` set (in the environment *before*
any process imports prometheus_client), every process writes its values to files there and
``/metrics`` adds them up (prometheus_client's ``MultiProcessCollector``). Whoever starts the
processes gives them one fresh directory: ``scripts/run_dev.sh`` empties ``var/prometheus``
before honcho starts, the image sets ``/tmp/bizmitra-metrics`` (a new container starts with
an empty one), and test runs get ``var/test-metrics/<run>`` (``settings/observability.py``).
Processes that share no disk (Kubernetes pods) are scraped one by one: web pods on
``/metrics``, worker pods on ``METRICS_PORT`` (``worker_metrics_serve``, started by
``bizmitra.celery``).

Values computed at scrape time rather than counted (queue depths from Redis, rows in the
database) are collectors: ``QueueDepthCollector`` here; apps register theirs with
``scrape_collector`` (e.g. ``conversations/metrics.py``: dead letters, parked statuses).
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from functools import wraps

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from bizmitra.events import listens_to
from bizmitra.queues import queue_depths

logger = logging.getLogger(__name__)

_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if _MULTIPROC_DIR:
    # prometheus_client writes there on the first increment; a missing directory would fail it.
    os.makedirs(_MULTIPROC_DIR, exist_ok=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_ANSWER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

# --- inbound ---------------------------------------------------------------------------------
WEBHOOK_REQUESTS = Counter(
    "bizmitra_webhook_requests_total",
    "Answers of the WhatsApp webhook endpoint, by HTTP status (5xx: Meta retries).",
    ["method", "status"],
)
WEBHOOK_SECONDS = Histogram(
    "bizmitra_webhook_request_seconds",
    "Time the WhatsApp webhook endpoint took to answer (verify, store, 200).",
    ["method"],
    buckets=_LATENCY_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter(
    "bizmitra_webhook_deliveries_processed_total",
    "Stored webhook deliveries processed by the ingest task, by outcome (failed: retried by the sweeper).",
    ["outcome"],
)
WEBHOOK_PARSE_FAILURES = Counter(
    "bizmitra_webhook_parse_failures_total",
    "Stored webhook bodies, or items of them, that were not a WhatsApp webhook we could read.",
    ["reason"],
)
MESSAGES_RECEIVED = Counter("bizmitra_messages_received_total", "Inbound WhatsApp messages stored (new rows only).")

# --- engine ----------------------------------------------------------------------------------
ENGINE_DECISIONS = Counter(
    "bizmitra_engine_decisions_total",
    "Engine decisions on inbound messages, by path (rule, flow, builtin, ai, fallback, away, silent…) "
    "and lane (fast: one transaction; slow: AI, away, replays).",
    ["path", "lane"],
)
ENGINE_ANSWER_SECONDS = Histogram(
    "bizmitra_engine_answer_seconds",
    "From an inbound message stored to its decision and replies stored (the first reply; fast-lane "
    "replies are sent right after).",
    ["lane"],
    buckets=_ANSWER_BUCKETS,
)

# --- outbound --------------------------------------------------------------------------------
SENDS = Counter(
    "bizmitra_whatsapp_sends_total",
    "Outbound send attempts by outcome: sent, retry, failed, dead (dead-lettered after the last "
    "attempt), in_doubt, throttled, opted_out, skipped.",
    ["outcome"],
)
GRAPH_ERRORS = Counter(
    "bizmitra_graph_send_errors_total",
    "Graph API errors answered to sends, by Meta error code (transport: no answer or an HTTP error "
    "without a Graph error body).",
    ["code"],
)
MESSAGE_STATUSES = Counter(
    "bizmitra_message_statuses_total",
    "Status changes of outbound messages (sent, delivered, read, failed, dead).",
    ["status"],
)
LIMITER_WAITS = Counter(
    "bizmitra_limiter_waits_total",
    "Times a send waited for its phone number's throughput slot (conversations/ratelimit.py).",
)
LIMITER_WAIT_SECONDS = Counter(
    "bizmitra_limiter_wait_seconds_total", "Seconds sends spent waiting for throughput slots."
)

# --- AI assistant ----------------------------------------------------------------------------
AI_CALLS = Counter(
    "bizmitra_ai_calls_total",
    "AI assistant answers by outcome (ok, timeout, error, fallback, rejected_tool…).",
    ["outcome"],
)
AI_TOKENS = Counter("bizmitra_ai_tokens_total", "Tokens of AI completions, by kind (prompt, completion).", ["kind"])
AI_COST = Counter(
    "bizmitra_ai_cost_usd_total",
    "Estimated cost of AI completions in US dollars (AI_COST_PER_MILLION_*_TOKENS_USD settings).",
)

# --- documents -------------------------------------------------------------------------------
OCR_JOBS = Counter(
    "bizmitra_documents_processed_total",
    "Documents whose OCR and extraction finished, by final state (done, failed).",
    ["state"],
)

EXPORTED = (
    WEBHOOK_REQUESTS,
    WEBHOOK_SECONDS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_PARSE_FAILURES,
    MESSAGES_RECEIVED,
    ENGINE_DECISIONS,
    ENGINE_ANSWER_SECONDS,
    SENDS,
    GRAPH_ERRORS,
    MESSAGE_STATUSES,
    LIMITER_WAITS,
    LIMITER_WAIT_SECONDS,
    AI_CALLS,
    AI_TOKENS,
    AI_COST,
    OCR_JOBS,
)


# --- one-line helpers for the call sites -------------------------------------------------------


def webhook_observed(view: Callable) -> Callable:
    """Decorate the webhook view: count its answers by status and time them."""

    @wraps(view)
    def observed(request, *args, **kwargs):
        started = time.perf_counter()
        status = "500"
        try:
            response = view(request, *args, **kwargs)
            status = str(response.status_code)
            return response
        finally:
            method = request.method if request.method in ("GET", "POST", "HEAD") else "other"
            WEBHOOK_SECONDS.labels(method=method).observe(time.perf_counter() - started)
            WEBHOOK_REQUESTS.labels(method=method, status=status).inc()

    return observed


def engine_decided(*, path: str, fast: bool, arrived_at) -> None:
    """One engine decision; ``arrived_at``: when its inbound message was stored (aware datetime)."""
    from django.utils import timezone

    lane = "fast" if fast else "slow"
    ENGINE_DECISIONS.labels(path=path, lane=lane).inc()
    if arrived_at is not None:
        ENGINE_ANSWER_SECONDS.labels(lane=lane).observe(max((timezone.now() - arrived_at).total_seconds(), 0.0))


def graph_error(code: int | None) -> None:
    GRAPH_ERRORS.labels(code=str(code) if code is not None else "transport").inc()


def limiter_waited(seconds: float) -> None:
    LIMITER_WAITS.inc()
    LIMITER_WAIT_SECONDS.inc(max(seconds, 0.0))


def ai_completion(completion) -> None:
    """Tokens and estimated cost of one AI completion (``prompt_tokens``, ``completion_tokens``;
    prices from settings, per million tokens)."""
    from django.conf import settings

    prompt, answer = int(completion.prompt_tokens or 0), int(completion.completion_tokens or 0)
    AI_TOKENS.labels(kind="prompt").inc(prompt)
    AI_TOKENS.labels(kind="completion").inc(answer)
    cost = (
        prompt * settings.AI_COST_PER_MILLION_PROMPT_TOKENS_USD
        + answer * settings.AI_COST_PER_MILLION_COMPLETION_TOKENS_USD
    ) / 1_000_000
    if cost > 0:
        AI_COST.inc(cost)


# Domain events already say these things happened: count them here, no line in the services.
@listens_to("messages.received")
def _count_received(*, message_ids=(), **payload) -> None:
    MESSAGES_RECEIVED.inc(len(message_ids))


@listens_to("message.status")
def _count_status(*, status: str = "", **payload) -> None:
    if status:
        MESSAGE_STATUSES.labels(status=str(status)).inc()


@listens_to("document.processed", "document.failed")
def _count_document(*, event_name: str, **payload) -> None:
    OCR_JOBS.labels(state="done" if event_name == "document.processed" else "failed").inc()


# --- scrape-time collectors ------------------------------------------------------------------

_scrape_collectors: list[Callable[[], Iterable[Metric]]] = []


def scrape_collector(func: Callable[[], Iterable[Metric]]) -> Callable[[], Iterable[Metric]]:
    """Register a function that yields metric families when ``/metrics`` is scraped (web only).

    For values read from Redis or the database at that moment. It must be quick and must
    not raise for a transient outage (yield nothing instead: a scrape never fails).
    """
    if func not in _scrape_collectors:
        _scrape_collectors.append(func)
    return func


class _FunctionsCollector:
    def collect(self):
        for func in list(_scrape_collectors):
            try:
                yield from func()
            except Exception:  # a scrape shows what it can; the outage shows in the logs
                logger.warning("metrics collector %s failed", getattr(func, "__name__", func), exc_info=True)


class QueueDepthCollector:
    """``bizmitra_queue_depth{queue,role}``: tasks waiting in each Celery queue (bizmitra/queues.py).

    Read from the broker's Redis lists at scrape time (LLEN of every priority step of every
    queue, one pipeline): tasks a worker has taken but not finished are not counted.
    """

    def __init__(self, *, broker_url: str | None = None, queues: dict[str, str] | None = None) -> None:
        self.broker_url = broker_url
        self.queues = queues

    def collect(self):
        import redis
        from django.conf import settings

        queues = self.queues or settings.CELERY_QUEUES_BY_ROLE
        family = GaugeMetricFamily(
            "bizmitra_queue_depth", "Celery tasks waiting in each queue (Redis list length).", labels=["queue", "role"]
        )
        try:
            depths = queue_depths(queues, broker_url=self.broker_url)
        except redis.RedisError:
            logger.warning("queue depths unavailable: the broker did not answer", exc_info=True)
            return
        for role, name in queues.items():
            family.add_metric([name, role], depths[role])
        yield family


# --- exposition ------------------------------------------------------------------------------


def registry_build(*, scrape: bool = True) -> CollectorRegistry:
    """What one scrape shows: every process's values (multiprocess) or this process's, plus the
    scrape-time collectors when ``scrape`` (the web endpoint; a worker's port shows only its own)."""
    if _MULTIPROC_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=_MULTIPROC_DIR)
    else:
        registry = CollectorRegistry(auto_describe=True)
        for metric in EXPORTED:
            registry.register(metric)
    if scrape:
        registry.register(QueueDepthCollector())
        registry.register(_FunctionsCollector())
    return registry


def exposition(*, scrape: bool = True) -> bytes:
    return generate_latest(registry_build(scrape=scrape))


def token_valid(authorization: str | None) -> bool:
    """True when no ``METRICS_TOKEN`` is set, or ``authorization`` is ``Bearer <that token>``."""
    from django.conf import settings

    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def metrics_view(request):
    """``GET /metrics`` (any host). 401 without the bearer token when ``METRICS_TOKEN`` is set."""
    from django.http import HttpResponse, JsonResponse

    if not token_valid(request.headers.get("Authorization")):
        response = JsonResponse(
            {"error": "unauthorized", "message": "Send Authorization: Bearer <METRICS_TOKEN>.", "fields": {}},
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"error": "method_not_allowed", "message": "Use GET.", "fields": {}}, status=405)
        response["Allow"] = "GET"
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def worker_metrics_serve(*, port: int, host: str = "0.0.0.0"):  # noqa: S104 - scraped from inside the cluster
    """Serve this host's multiprocess values on ``port`` from a daemon thread (Celery's main
    process; its pool processes write to the same directory). Same token rule as ``/metrics``."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    def app(environ, start_response):
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not token_valid(environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"Send Authorization: Bearer <METRICS_TOKEN>.\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [exposition(scrape=False)]

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - wsgiref's signature
            pass

    server = make_server(host, port, app, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    logger.info("worker metrics on port %s", server.server_port)
    return server


def metric_names() -> set[str]:
    """Every sample name this app can export (counters' ``_total``, histograms' ``_bucket``,
    ``_sum``, ``_count``, and the scrape-time gauges), for checking alert rules and dashboards."""
    names: set[str] = set()
    for metric in EXPORTED:
        for family in metric.describe():
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
    names.add("bizmitra_queue_depth")
    for func in _scrape_collectors:
        names.update(getattr(func, "metric_names", ()))
    return names
