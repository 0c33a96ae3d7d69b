"""Configuration: production refuses to start without its secrets, and names the missing one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "FIELD_ENCRYPTION_KEYS",
    "ALLOWED_HOSTS",
    "META_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
)
DOCUMENTED = REQUIRED_IN_PRODUCTION + (
    "WHATSAPP_GRAPH_URL",
    "WHATSAPP_API_VERSION",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_MODEL",
)


def _production_env(**overrides) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BIZMITRA_"))}
    env.update(
        BIZMITRA_ENV="production",
        DJANGO_SETTINGS_MODULE="bizmitra.settings.base",
        SECRET_KEY="s3cret",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
        FIELD_ENCRYPTION_KEYS="ZGV2LW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXktMzI=",
        ALLOWED_HOSTS="example.com",
        META_APP_SECRET="app-secret",
        WHATSAPP_VERIFY_TOKEN="verify",
    )
    env.update(overrides)
    return env


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_starts_with_every_setting():
    result = _start(_production_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", REQUIRED_IN_PRODUCTION)
def test_production_refuses_to_start_without_a_required_setting(name, tmp_path):
    env = _production_env(**{name: ""})
    result = _start(env)
    assert result.returncode != 0
    assert f"environment variable {name} must be set" in result.stderr


def test_env_example_documents_every_setting():
    text = (ROOT / ".env.example").read_text()
    missing = [name for name in DOCUMENTED if f"\n{name}=" not in "\n" + text]
    assert not missing
