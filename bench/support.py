"""What the benchmarks share: finding PostgreSQL/Redis, a scratch database, child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def yardstick() -> float:
    """Seconds for 10 million Python additions: how fast this machine is right now (CPU
    figures differ between machines of the same size, and within a session)."""
    started = time.perf_counter()
    total = 0
    for n in range(10_000_000):
        total += n
    return time.perf_counter() - started


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def own_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process: the bench's sandbox and posters."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def services_env(database: str) -> dict[str, str]:
    """DATABASE_URL (naming ``database``) and REDIS_URL, found as `make test` finds them."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "services.py"), "--database", database],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = {}
    for line in out.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    return env


def recreate_database(database_url: str, name: str, *, create: bool = True) -> None:
    """Drop the scratch database ``name`` (and create it again unless ``create`` is False)."""
    from urllib.parse import parse_qs, urlsplit

    import psycopg

    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    with psycopg.connect(
        dbname="postgres",
        user=parts.username or "postgres",
        password=parts.password or "",
        host=query.get("host", [parts.hostname or "127.0.0.1"])[0],
        port=parts.port or 5432,
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def start(args: list[str], env: dict[str, str], name: str, logdir: Path) -> subprocess.Popen:
    logfile = open(logdir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_http(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up; see var/bench-logs/")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
