"""Access to the Meta-shaped webhook JSON fixtures shared by unit and integration tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"
"""Directory of ``<event>__<variant>.json`` webhook bodies built from Meta's documented shapes."""


def fixture_path(name: str) -> Path:
    """Path of fixture ``name`` (with or without the ``.json`` suffix)."""
    return FIXTURES_DIR / (name if name.endswith(".json") else f"{name}.json")


def load_fixture(name: str) -> dict[str, Any]:
    """Json-decoded webhook body of fixture ``name``."""
    return json.loads(fixture_path(name).read_text())


def fixture_bytes(name: str) -> bytes:
    """Raw bytes of fixture ``name``, as they would arrive in ``request.body``."""
    return fixture_path(name).read_bytes()
