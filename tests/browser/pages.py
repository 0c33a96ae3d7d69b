"""Steps the browser tests share: signing in to a tenant's dashboard."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.tenancy import ALPHA, PASSWORDS


def login(page: Page, stack, email: str, password: str, path: str, host: str = "alpha.test") -> None:
    """Sign in at ``host``'s login page, wait for the inbox, then open ``path``."""
    page.goto(stack.url(host, "/login/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    page.goto(stack.url(host, path))


def login_owner(page: Page, stack, path: str) -> None:
    """Alpha's owner, signed in, on ``path``."""
    login(page, stack, ALPHA["owner_email"], PASSWORDS[ALPHA["owner_email"]], path)
