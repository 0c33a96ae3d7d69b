"""The product's processes as the Procfile runs them, on a scratch database: for the pipeline
benchmark (``bench/pipeline_burst.py``) and the broker-fault test
(``tests/test_reply_pipeline_faults.py``).

``Stack`` migrates its own database, onboards one tenant whose number the in-process Graph
sandbox knows, and starts ``web``, ``worker``, ``background`` and ``beat`` with the very
commands of the Procfile (through bash, as honcho does). With ``own_redis`` it also runs a
``redis-server`` of its own (nothing kept on disk, like this machine's), so a test can
restart it and lose every queued task, as a Redis restart without persistence does.
Everything the stack is asked is asked over its real interfaces: signed webhooks over HTTP,
the database over psycopg.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

from bench.support import ROOT, recreate_database, services_env, wait_http

APP_SECRET = "stack-app-secret"
ACCESS_TOKEN = "stack-token"
PROCESSES = ("web", "worker", "background", "beat")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_commands() -> dict[str, str]:
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and not line.startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


class Stack:
    """A scratch deployment: start with ``start()``, stop with ``stop()`` (or as a context manager)."""

    def __init__(
        self,
        name: str,
        *,
        sandbox,
        own_redis: bool = False,
        messages_per_second: int | None = None,
        env: dict[str, str] | None = None,
        logdir: Path | None = None,
        database_url: str | None = None,
    ) -> None:
        self.name = name
        self.sandbox = sandbox
        self.own_redis = own_redis
        self.messages_per_second = messages_per_second
        self.extra_env = env or {}
        self.logdir = logdir or ROOT / "var" / "stack-logs" / name
        self.procs: dict[str, subprocess.Popen] = {}
        self.redis_proc: subprocess.Popen | None = None
        self.redis_port = free_port() if own_redis else None
        self.web_port = free_port()
        self.phone_number_id = str(10**14 + uuid.uuid4().int % 10**14)
        self.schema = "stack"
        self.env: dict[str, str] = {}
        # A server of the caller's (bench/chaos.py runs its own PostgreSQL so it can restart it).
        self.database_url = database_url

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, *, processes=PROCESSES) -> Stack:
        self.logdir.mkdir(parents=True, exist_ok=True)
        found = services_env(self.name) if self.database_url is None or not self.own_redis else {}
        base_url = self.database_url or found["DATABASE_URL"]
        database_url = urlsplit(base_url)._replace(path=f"/{self.name}").geturl()
        if self.own_redis:
            self.redis_start()
        redis_url = f"redis://127.0.0.1:{self.redis_port}/0" if self.own_redis else found["REDIS_URL"]
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bizmitra.settings.base",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "META_APP_SECRET": APP_SECRET,
            "REDIS_KEY_PREFIX": self.name,
            "CELERY_TASK_DEFAULT_QUEUE": self.name,
            "ALLOWED_HOSTS": "*",
            "PYTHONUNBUFFERED": "1",
            "WEB_PORT": str(self.web_port),
            "WHATSAPP_GRAPH_URL": self.sandbox.base_url,
            # No AI endpoint: unmatched messages get the fallback without a model call.
            "OPENAI_API_KEY": "",
            "OPENAI_BASE_URL": "https://api.openai.com/v1",
            "PLATFORM_ADMIN_PASSWORD": "stack-admin-password",
            **self.extra_env,
        }
        for key in ("BIZMITRA_TEST_RUN_ID", "PYTEST_XDIST_WORKER", "BIZMITRA_TEST_DB", "MEDIA_ROOT"):
            self.env.pop(key, None)
        recreate_database(database_url, self.name)
        self._manage("migrate_schemas", "--shared", "-v", "0")
        self._manage("collectstatic", "--noinput", "-v", "0")
        self._manage("ensure_platform", "--domain", "localhost", "--admin-email", "admin@localhost")
        self._manage(
            "onboard_tenant",
            "--name",
            "Stack Shop",
            "--schema",
            self.schema,
            "--domain",
            "stack.localhost",
            "--phone-number-id",
            self.phone_number_id,
            "--access-token",
            ACCESS_TOKEN,
            "--client-code",
            "STACK",
            "--owner-email",
            "owner@stack.localhost",
            "--owner-password",
            "stack-password",
            "--json",
        )
        self.sandbox.register_number(self.phone_number_id, ACCESS_TOKEN)
        if self.messages_per_second:
            self.sql(
                "UPDATE public.tenants_phonenumber SET messages_per_second = %s WHERE phone_number_id = %s",
                (self.messages_per_second, self.phone_number_id),
                fetch=False,
            )
        for name in processes:
            self.process_start(name)
        wait_http(f"http://127.0.0.1:{self.web_port}/healthz", timeout=60)
        return self

    def stop(self) -> None:
        for name in list(self.procs):
            self.process_kill(name, sig=signal.SIGTERM)
        if self.redis_proc is not None:
            self.redis_kill()
        try:
            recreate_database(self.env["DATABASE_URL"], self.name, create=False)
        except Exception:  # noqa: BLE001 - best effort; the next run drops it first anyway
            pass

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _manage(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each Procfile process with its children
        (each runs in a session of its own), and by the PostgreSQL backends connected to this
        stack's database. Backends that have exited are not counted."""
        tick = os.sysconf("SC_CLK_TCK")
        sessions = {proc.pid: name for name, proc in self.procs.items() if proc.poll() is None}
        used: dict[str, float] = dict.fromkeys([*sessions.values(), "postgres"], 0.0)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            seconds = (int(fields[11]) + int(fields[12])) / tick
            session = int(fields[3])
            if session in sessions:
                used[sessions[session]] += seconds
            elif command.startswith("postgres: ") and f" {self.name} " in command:
                used["postgres"] += seconds
        return used

    # -- processes ------------------------------------------------------------------------

    def process_start(self, name: str) -> subprocess.Popen:
        command = procfile_commands()[name]
        logfile = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env={**self.env, "PATH": f"{Path(sys.executable).parent}:{self.env.get('PATH', '')}"},
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def process_kill(self, name: str, *, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def redis_start(self) -> None:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        logfile = open(self.logdir / "redis.log", "ab")  # noqa: SIM115
        self.redis_proc = subprocess.Popen(
            [server, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def redis_kill(self) -> None:
        """Stop the stack's Redis at once: every queued and unacknowledged task is gone."""
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            os.killpg(self.redis_proc.pid, signal.SIGKILL)
            self.redis_proc.wait(5)
        self.redis_proc = None

    # -- what the stack is asked ----------------------------------------------------------

    def post_webhook(self, payload: dict, client: httpx.Client | None = None) -> int:
        from conversations.whatsapp.signature import compute_signature

        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": compute_signature(APP_SECRET, body)}
        url = f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/"
        response = (client or httpx).post(url, content=body, headers=headers, timeout=30)
        return response.status_code

    def sql(self, query: str, params: tuple = (), *, fetch: bool = True) -> list[tuple]:
        url = urlsplit(self.env["DATABASE_URL"])
        with psycopg.connect(
            dbname=self.name,
            user=url.username or "postgres",
            password=url.password or "",
            host=url.hostname or "127.0.0.1",
            port=url.port or 5432,
            autocommit=True,
        ) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if fetch else []


def inbound_batch(phone_number_id: str, items: list[tuple[str, str, str]], *, timestamp: int | None = None) -> dict:
    """A Meta webhook carrying ``(wa_id, wamid, text)`` messages in one change (Meta batches
    up to 1,000 updates this way)."""
    at = str(timestamp or int(time.time()))
    contacts = {wa_id: {"profile": {"name": f"Customer {wa_id[-4:]}"}, "wa_id": wa_id} for wa_id, _, _ in items}
    messages = [
        {"from": wa_id, "id": wamid, "timestamp": at, "type": "text", "text": {"body": text}}
        for wa_id, wamid, text in items
    ]
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "stack-waba",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
                            "contacts": list(contacts.values()),
                            "messages": messages,
                        },
                    }
                ],
            }
        ],
    }
