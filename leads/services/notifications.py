"""Notifications for dashboard users, stored and pushed live."""

from collections.abc import Iterable

from django.utils import timezone

from bizmitra.events import publish
from leads.models import Notification


def notification_create(
    *, recipients: Iterable, kind: str, title: str, body: str = "", lead=None, appointment=None
) -> list[Notification]:
    """Store one notification per distinct recipient and announce them after commit."""
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        rows.append(
            Notification(recipient=user, kind=kind, title=title[:200], body=body, lead=lead, appointment=appointment)
        )
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows)
    publish(
        "notification.created",
        notification_ids=[n.pk for n in created],
        recipient_ids=[n.recipient_id for n in created],
        kind=kind,
        title=title,
        lead_id=getattr(lead, "pk", None),
        appointment_id=getattr(appointment, "pk", None),
    )
    return created


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification
