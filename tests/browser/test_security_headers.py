"""The dashboard still works with the Content-Security-Policy on (issue 13 §3): no violation on
the inbox, leads, analytics, documents and security pages, htmx runs with its style nonce, and
the inbox's websocket (another port, LIVE_WEBSOCKET_URL) connects. Chromium against the real
stack (tests/browser/conftest.py)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.tenancy import ALPHA, PASSWORDS

pytestmark = [pytest.mark.worker]

# Every violation, also those Chromium does not print: collected by the page itself.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""

PAGES = [
    ("/", "Inbox"),
    ("/leads/", "Leads"),
    ("/analytics/", "Analytics"),
    ("/documents/", "Documents"),
    ("/settings/security/", "Security"),
    ("/settings/audit/", "Audit log"),
]


def test_dashboard_pages_run_under_the_csp_without_violations(page: Page, stack, shoot):
    console_csp: list[str] = []
    page.on(
        "console",
        lambda msg: console_csp.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.add_init_script(COLLECT_VIOLATIONS)

    page.goto(stack.url("alpha.test", "/login/"))
    page.get_by_label("Email").fill(ALPHA["owner_email"])
    page.get_by_label("Password").fill(PASSWORDS[ALPHA["owner_email"]])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()

    for path, heading in PAGES:
        response = page.goto(stack.url("alpha.test", path))
        assert response is not None and response.ok, path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => window.__cspViolations") == [], path
        # htmx loaded and got the nonce for its indicator <style> (else: a style-src violation).
        assert page.evaluate("() => Boolean(window.htmx && htmx.config.inlineStyleNonce)"), path
        if path == "/":
            assert _wait_for_socket(page, sockets), "the inbox websocket did not open under the CSP"
        if path in ("/settings/security/", "/settings/audit/"):
            shoot(page, "security-headers-" + path.strip("/").split("/")[-1])
    assert console_csp == []


def _wait_for_socket(page: Page, sockets: list[str]) -> bool:
    page.wait_for_function("() => document.readyState === 'complete'")
    if not sockets:
        page.wait_for_event("websocket", timeout=15_000)
    return any(url.startswith("ws://alpha.test:") for url in sockets)


def test_owner_sees_a_paused_account_and_unlocks_it(page: Page, stack, shoot):
    from axes.models import AccessAttempt, AccessFailureLog
    from django.conf import settings
    from django_tenants.utils import schema_context

    username = f"guess-{uuid.uuid4().hex[:6]}@alpha.test"
    with schema_context("alpha"):
        for n in range(3):
            AccessFailureLog.objects.create(
                username=username,
                ip_address="203.0.113.50",
                user_agent="bot",
                http_accept="*/*",
                path_info="/api/auth/token/" if n else "/admin/login/",
                locked_out=n == 2,
            )
        AccessAttempt.objects.create(
            username=username,
            ip_address="203.0.113.50",
            user_agent="bot",
            http_accept="*/*",
            path_info="/login/",
            get_data="",
            post_data="",
            failures_since_start=settings.AXES_FAILURE_LIMIT,
        )
    page.goto(stack.url("alpha.test", "/login/"))
    page.get_by_label("Email").fill(ALPHA["owner_email"])
    page.get_by_label("Password").fill(PASSWORDS[ALPHA["owner_email"]])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()

    page.goto(stack.url("alpha.test", "/settings/security/"))
    paused = page.get_by_role("region", name="Paused now")
    expect(paused.get_by_text(username)).to_be_visible()
    expect(page.get_by_role("region", name="Recent failed sign-ins").get_by_text("API token").first).to_be_visible()
    shoot(page, "security-headers-lockout")
    paused.get_by_role("button", name=f"Unlock {username}").click()
    expect(page.get_by_text("Unlocked: signing in works again")).to_be_visible()
    expect(paused.get_by_text(username)).to_have_count(0)
