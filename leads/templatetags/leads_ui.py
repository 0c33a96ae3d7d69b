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


@register.filter
def heat_level(count, peak) -> int:
    """0–5: how dark a heatmap cell is, its count relative to the busiest cell."""
    try:
        count, peak = int(count), int(peak)
    except (TypeError, ValueError):
        return 0
    if count <= 0 or peak <= 0:
        return 0
    return max(1, min(5, -(-count * 5 // peak)))
