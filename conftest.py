"""Fixtures for the whole suite: real PostgreSQL (one schema per tenant), Redis, Celery.

Two tenants are created once per test session and committed; ordinary tests
run inside a rolled-back transaction (``db``), tests that need other processes
to see their rows (a Celery worker, a live server) use ``live_db`` and unique
data instead.
"""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tests.support import PYTHON, free_port, start_process, stop_process, subprocess_env, wait_for
from tests.tenancy import ALPHA, BETA


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """pytest-django's fixture, but the test database is always created.

    pytest-django only creates it when a collected test asks for ``db``; a run of
    only ``live_db`` tests would otherwise write into the development database.
    """
    from django.test.utils import setup_databases, teardown_databases

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        db_cfg = setup_databases(
            verbosity=request.config.option.verbose, interactive=False, aliases={"default"}, keepdb=keepdb
        )
        assert connection.settings_dict["NAME"].startswith("test_"), "refusing to run tests outside a test database"
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            teardown_databases(db_cfg, verbosity=request.config.option.verbose)


@pytest.fixture(scope="session")
def tenants_setup(django_db_setup, django_db_blocker):
    from tenants.services import public_tenant_ensure, tenant_onboard

    with django_db_blocker.unblock():
        public_tenant_ensure(domain="testserver")
        alpha = tenant_onboard(**ALPHA)
        beta = tenant_onboard(**BETA)
        connection.set_schema_to_public()
    return {"alpha": alpha, "beta": beta}


@pytest.fixture(autouse=True)
def _start_in_public_schema():
    """Requests leave the connection in their tenant's schema; every test starts from public."""
    connection.set_schema_to_public()
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _fresh_config_snapshots():
    """The engine's per-process configuration snapshots (bizmitra.config_cache) must not
    carry rows of an earlier test's rolled-back transaction into the next test."""
    from bizmitra.config_cache import local_caches_clear
    from conversations.services.outbound_delivery import sending_numbers_forget

    local_caches_clear()
    sending_numbers_forget()
    yield
    local_caches_clear()
    sending_numbers_forget()


@pytest.fixture
def alpha(tenants_setup):
    """The onboarding result of tenant Alpha (tenant, domain, phone number, api_key)."""
    return tenants_setup["alpha"]


@pytest.fixture
def beta(tenants_setup):
    return tenants_setup["beta"]


@pytest.fixture
def live_db(django_db_blocker, tenants_setup):
    """Autocommit database access: rows are visible to workers and servers; use unique data."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()


@pytest.fixture
def in_alpha(alpha, db):
    with schema_context(alpha.tenant.schema_name):
        yield alpha.tenant


@pytest.fixture(scope="session")
def graph_sandbox():
    """A Graph API sandbox for the whole session, shared by this process and the worker.

    Alpha's and Beta's numbers are registered with their tokens; ``webhook_url`` is None
    (set it for a test that wants status webhooks, and put it back). Do not ``reset()`` it:
    that forgets the registered numbers. In-process code reaches it once a test sets
    ``settings.WHATSAPP_GRAPH_URL = graph_sandbox.base_url``; the worker gets it from its env.
    """
    from django.conf import settings

    from conversations.whatsapp.sandbox import GraphSandbox

    sandbox = GraphSandbox(port=free_port(), webhook_url=None, app_secret=settings.META_APP_SECRET)
    sandbox.start()
    for number in (ALPHA, BETA):
        sandbox.register_number(
            number["phone_number_id"],
            number["access_token"],
            waba_id=number["waba_id"],
            display_phone_number=number["display_phone_number"],
        )
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def ai_server():
    """A local OpenAI-compatible server (conversations/tests/ai_server.py) for the whole session.

    The worker's ``OPENAI_BASE_URL``: every inbound message a worker handles may reach the AI
    agent, and no test may call the real endpoint. Unscripted requests get a 500 (the
    engine then answers with the fallback); a test that scripts answers must wait for the
    work it caused before the next test runs.
    """
    from conversations.tests.ai_server import FakeAIServer

    server = FakeAIServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_worker(tenants_setup, django_db_blocker, graph_sandbox, ai_server):
    """A real ``celery -A bizmitra worker`` on this run's queue and test database.

    Its Graph API is the session's ``graph_sandbox`` (``WHATSAPP_GRAPH_URL``), its AI
    endpoint the session's ``ai_server`` (``OPENAI_BASE_URL``).
    """
    import redis
    from django.conf import settings

    with django_db_blocker.unblock():
        env = subprocess_env(WHATSAPP_GRAPH_URL=graph_sandbox.base_url, OPENAI_BASE_URL=ai_server.base_url)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    queues = list(settings.CELERY_QUEUES_BY_ROLE.values())  # every role's queue of this run
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(*queues)
    proc = start_process(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "bizmitra",
            "worker",
            "-Q",
            ",".join(queues),
            "--concurrency=2",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{queue}@test",
        ],
        log_name="celery-worker",
        env=env,
    )
    from bizmitra.celery import app

    node = f"{queue}@test"
    wait_for(
        lambda: proc.poll() is not None or app.control.ping(destination=[node], timeout=0.5),
        timeout=30,
        what="the celery worker to answer ping",
    )
    assert proc.poll() is None, "celery worker exited at start; see var/test-logs"
    yield proc
    stop_process(proc)
