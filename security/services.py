"""Writes of the owners' security pages."""

from __future__ import annotations

import logging

from axes.models import AccessAttempt

from bizmitra.actors import actor_split
from bizmitra.errors import NotFound

logger = logging.getLogger(__name__)


def lockout_release(*, attempt_id: int, by) -> None:
    """Unlock one refused account/address now (an owner vouches for it): its failures are
    forgotten; the failed-sign-in history stays. Call inside the tenant's schema."""
    attempt = AccessAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None:
        raise NotFound("That lockout has already ended.")
    attempt.delete()
    _, label = actor_split(by)
    logger.info("lockout released by %s: username=%r ip=%s", label, attempt.username, attempt.ip_address)
