"""Template helpers of the leads pages."""

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def age(value) -> str:
    """How long ago, in one unit for a card: "12m", "5h", "3d", "7w"."""
    if not value:
        return ""
    seconds = max(0, int((timezone.now() - value).total_seconds()))
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"


@register.filter
def score_band(score) -> str:
    """A colour band for a score chip (cold / warm / hot)."""
    try:
        score = int(score)
    except (TypeError, ValueError):
        return "cold"
    if score >= 30:
        return "hot"
    return "warm" if score >= 10 else "cold"
