"""Fixtures shared by several conversations test modules."""

from conversations.tests.engine_support import live_sandbox, live_web  # noqa: F401 - fixtures
