"""What the leads pages show from apps above leads, without importing them (apps depend one
way: workflows sits above leads). Workflows plugs its functions in from its
``AppConfig.ready`` (``workflows.lead_timeline``); without it the pages show no workflow
messages and no reminder plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PlannedMessage:
    """One message an appointment's workflows send (or sent, or dropped): the reminder plan."""

    trigger: str  # "appointment_reminder", …
    label: str  # "Reminder", "Confirmation", …
    workflow: str  # the rule's name
    channel: str  # "WhatsApp", "Email"
    due_at: datetime
    status: str  # pending, running, completed, failed, cancelled
    status_label: str  # "Scheduled", "Sent", …
    error: str = ""


def _no_timeline(lead) -> list:
    return []


def _no_plan(appointment_ids: list[int]) -> dict[int, list[PlannedMessage]]:
    return {}


# (lead) -> extra ``leads.dashboard.selectors.TimelineItem`` rows for the lead page: the
# workflow triggers and messages for the lead's contact.
lead_timeline_entries: Callable[[Any], list] = _no_timeline
# (appointment ids) -> {id: [PlannedMessage, … by due time]}: one query for a whole agenda.
appointment_messages: Callable[[list[int]], dict[int, list[PlannedMessage]]] = _no_plan


def install(
    *,
    timeline: Callable[[Any], list] = _no_timeline,
    appointment_plan: Callable[[list[int]], dict[int, list[PlannedMessage]]] = _no_plan,
) -> None:
    global lead_timeline_entries, appointment_messages
    lead_timeline_entries = timeline
    appointment_messages = appointment_plan
