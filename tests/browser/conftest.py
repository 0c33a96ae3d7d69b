"""The dashboard in a real browser, against the real stack, started once per test session.

- web: granian serving ``bizmitra.wsgi`` (static files straight from ``static/``), with the
  session's Graph sandbox as its Graph API (the simulator and media uploads call it);
- realtime: daphne serving ``bizmitra.asgi`` (the inbox websocket);
- worker: the session's ``celery_worker`` (ingests webhooks, runs the engine, sends);
- Meta: the session's ``graph_sandbox``, posting its signed webhooks to our granian.

The browser is Debian's Chromium (``/usr/bin/chromium``, installed by
``scripts/system_packages.sh``) driven by pytest-playwright; nothing is downloaded. Tenant hosts
(alpha.test, beta.test) resolve to loopback inside the browser only (``--host-resolver-rules``).
Screenshots land in ``var/test-artifacts/`` on every run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import (
    PYTHON,
    ROOT,
    free_port,
    start_process,
    stop_process,
    subprocess_env,
    wait_for,
    wait_for_port,
)

# Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls from
# test code ("async context") although they are plain synchronous calls. The test code never
# runs inside that loop, so it is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("BIZMITRA_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "var" / "test-artifacts"
WEBHOOK_PATH = "/webhooks/whatsapp/"
WIDTHS = {"phone": (390, 844), "desktop": (1440, 900)}


def pytest_collection_modifyitems(config, items):
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return
    # make test installs it (scripts/system_packages.sh); a bare checkout says why it skipped.
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not installed (apt-get install chromium)")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


APP_NAME = "bizmitra-browser-stack"


def _stack_sessions_gone() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [APP_NAME],
        )
        return cursor.fetchone()[0] == 0


@dataclass
class Stack:
    web_port: int
    ws_port: int
    sandbox: object

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.web_port}{path}"


class SmtpSink:
    """A local SMTP server (aiosmtpd) that keeps every message the web server sends."""

    def __init__(self) -> None:
        import threading

        self.messages: list[dict] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append({"to": list(envelope.rcpt_tos), "data": envelope.content.decode()})
        return "250 Message accepted"

    def to(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.messages if address in m["to"]]


@pytest.fixture(scope="session")
def smtp_sink():
    """The web server's SMTP server (EMAIL_HOST/EMAIL_PORT of the stack): invitations, verification."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture(scope="session")
def browser_stack(tenants_setup, django_db_blocker, celery_worker, graph_sandbox, smtp_sink):
    """granian + daphne on free ports, sharing this run's database, Redis prefix and sandbox."""
    web_port, ws_port = free_port(), free_port()
    with django_db_blocker.unblock():
        env = subprocess_env(
            WHATSAPP_GRAPH_URL=graph_sandbox.base_url,
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp_sink.port),
            LIVE_WEBSOCKET_URL=f"ws://{{host}}:{ws_port}/ws/inbox/",
            # libpq names our servers' sessions, so teardown can wait for them to be gone.
            PGAPPNAME=APP_NAME,
        )
    granian = ROOT / ".venv" / "bin" / "granian"
    web_args = [str(granian)] if granian.exists() else [PYTHON, "-m", "granian"]
    web_args += ["--interface", "wsgi", "--host", "127.0.0.1", "--port", str(web_port), "--workers", "1"]
    web_args += ["--blocking-threads", "4", "--log-level", "warning"]
    web_args += ["--static-path-mount", str(ROOT / "static"), "bizmitra.wsgi:application"]
    web = start_process(web_args, log_name="browser-granian", env=env)
    realtime = start_process(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(ws_port), "bizmitra.asgi:application"],
        log_name="browser-daphne",
        env=env,
    )
    try:
        wait_for_port(web_port, timeout=30)
        wait_for_port(ws_port, timeout=30)
        yield Stack(web_port=web_port, ws_port=ws_port, sandbox=graph_sandbox)
    finally:
        stop_process(web)
        stop_process(realtime)
        with django_db_blocker.unblock():
            # The test database is dropped right after the session; a backend of a server
            # that has just exited may still be closing (DROP DATABASE would then refuse).
            wait_for(_stack_sessions_gone, timeout=30, what="the browser stack's database sessions to end")


@pytest.fixture
def stack(browser_stack, live_db):
    """The stack, with the sandbox posting its webhooks to our granian for this test."""
    sandbox = browser_stack.sandbox
    previous = sandbox.webhook_url, sandbox.auto_statuses
    sandbox.webhook_url = f"http://127.0.0.1:{browser_stack.web_port}{WEBHOOK_PATH}"
    yield browser_stack
    sandbox.webhook_url, sandbox.auto_statuses = previous


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP alpha.test 127.0.0.1, MAP beta.test 127.0.0.1",
        ],
    }


@pytest.fixture(scope="package")
def browser_context_args():
    # Not the plugin's (it needs the session-wide Playwright this package replaces, below).
    return {"viewport": {"width": 1440, "height": 900}, "locale": "en-GB"}


@pytest.fixture
def shoot():
    """``shoot(page, "inbox")``: the page at 390 px and 1440 px wide, into var/test-artifacts/;
    ``at=<locator>`` scrolls that part of a long page near the top at each width first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, at=None) -> list[Path]:
        original = page.viewport_size
        paths = []
        for width, height in WIDTHS.values():
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_load_state("networkidle")
            if at is not None:
                # Below the sticky bars (the phone layout's section tabs) rather than under them.
                at.evaluate(
                    "e => { const m = e.style.scrollMarginTop; e.style.scrollMarginTop = '120px';"
                    " e.scrollIntoView({block: 'start'}); e.style.scrollMarginTop = m; }"
                )
            path = ARTIFACTS / f"{name}-{width}.png"
            page.screenshot(path=str(path), full_page=False)
            paths.append(path)
        if original:
            page.set_viewport_size(original)
        return paths

    return take


# pytest-playwright keeps Playwright (and its event loop, running in this thread) for the
# whole session; every later test that calls asyncio.run() would then fail with "cannot be
# called from a running event loop". Scoped to this package instead, it stops when the
# browser tests are done.
@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(pw)
    yield pw
    pw.stop()


@pytest.fixture(scope="package")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args, browser_type):
    def launch(**kwargs):
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser):
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(autouse=True)
def _close_test_db_connections():
    """Close the database connections a browser test's own ORM calls opened.

    While Playwright's loop runs in this thread, Django keeps connections per async context,
    so the test's ORM calls get a connection of their own; left open, it would make the
    session's DROP DATABASE fail ("being accessed by other users").
    """
    yield
    from django.db import connections

    connections.close_all()
