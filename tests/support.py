"""Helpers shared by the test suite: real processes on loopback, polling."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str | Callable[[], str] = "condition",
):
    """Poll until ``predicate()`` is truthy; return its value or fail after ``timeout``.

    ``what`` may be a callable, evaluated only on failure (to show the state reached).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def wait_for_port(port: int, *, timeout: float = 15.0) -> None:
    def is_open():
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(is_open, timeout=timeout, what=f"port {port}")


def test_database_url() -> str:
    """DATABASE_URL of the test database this process is using.

    Built from the configured URL with only the database name swapped, so a socket
    host (``?host=/path``, the embedded pgserver) or a password survives.
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process (worker, server) that shares this test run's database and queues."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bizmitra.settings.test",
        DATABASE_URL=test_database_url(),
        BIZMITRA_TEST_DB=connection.settings_dict["NAME"],
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_process(args: list[str], *, log_name: str, env: dict[str, str]) -> subprocess.Popen:
    log_dir = ROOT / "var" / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{log_name}-{os.getpid()}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen, *, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


PYTHON = sys.executable


@contextmanager
def scratch_queue(settings_fixture, role: str):
    """Point the queue of ``role``, as the sweeps read its depth (``bizmitra.queues.queue_busy``),
    at a scratch Redis list of the caller's; yields ``(redis client, list name)``. Tasks are
    still published to the real queue (Celery's routes are read once)."""
    import uuid

    import redis

    name = f"{settings.CELERY_TASK_DEFAULT_QUEUE}.{role}-scratch-{uuid.uuid4().hex[:8]}"
    settings_fixture.CELERY_QUEUES_BY_ROLE = {**settings.CELERY_QUEUES_BY_ROLE, role: name}
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        yield client, name
    finally:
        client.delete(name)
