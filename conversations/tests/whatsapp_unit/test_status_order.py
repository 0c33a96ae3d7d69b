"""Tests for ``status_supersedes``: out-of-order and duplicate status webhooks (FACTS.md §1.4)."""

from __future__ import annotations

import itertools

import pytest

from conversations.whatsapp.parsing import STATUS_RANK, status_supersedes

PROGRESS = ["queued", "sending", "sent", "delivered", "read", "played"]


def test_status_rank_is_metas_order() -> None:
    assert STATUS_RANK == {"sent": 1, "delivered": 2, "read": 3, "played": 4}


@pytest.mark.parametrize(("current", "incoming"), list(itertools.combinations(PROGRESS, 2)))
def test_progress_moves_forward(current: str, incoming: str) -> None:
    assert status_supersedes(current, incoming)


@pytest.mark.parametrize(("incoming", "current"), list(itertools.combinations(PROGRESS, 2)))
def test_progress_never_moves_back(current: str, incoming: str) -> None:
    assert not status_supersedes(current, incoming)


@pytest.mark.parametrize("status", [*PROGRESS, "failed"])
def test_a_duplicate_changes_nothing(status: str) -> None:
    assert not status_supersedes(status, status)


@pytest.mark.parametrize("current", ["", "queued", "sending", "sent"])
def test_failed_replaces_states_before_delivery(current: str) -> None:
    assert status_supersedes(current, "failed")


@pytest.mark.parametrize("current", ["delivered", "read", "played"])
def test_a_late_failed_does_not_undo_delivery(current: str) -> None:
    assert not status_supersedes(current, "failed")


@pytest.mark.parametrize("incoming", [*PROGRESS, "deleted"])
def test_failed_is_terminal(incoming: str) -> None:
    assert not status_supersedes("failed", incoming)


def test_read_arriving_before_delivered_is_kept() -> None:
    # Meta skips `delivered` when a message is read at once, and order is not guaranteed.
    assert status_supersedes("sent", "read")
    assert not status_supersedes("read", "delivered")


def test_an_unknown_incoming_status_never_replaces_a_known_one() -> None:
    assert not status_supersedes("sent", "deleted")
    assert status_supersedes("", "deleted")


def test_a_known_status_replaces_an_unknown_current() -> None:
    assert status_supersedes("deleted", "delivered")
    assert status_supersedes("deleted", "failed")


def test_empty_incoming_never_replaces() -> None:
    assert not status_supersedes("sent", "")
    assert not status_supersedes("", "")


def test_comparison_ignores_case() -> None:
    assert status_supersedes("SENT", "Delivered")
    assert not status_supersedes("FAILED", "read")
