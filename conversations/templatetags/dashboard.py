"""Template helpers of the dashboard layout: navigation, icons, avatars, ticks.

Icons are Feather icons (https://feathericons.com, MIT licence, v4.29) in an inline SVG
sprite (layout/_icons.html), so pages need no icon font or extra request.
"""

import zlib
from datetime import datetime, timedelta

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from conversations.selectors import user_is_owner

register = template.Library()

# The sprite itself is layout/_icons.html, included once by layout/base.html.
ICON_NAMES = frozenset(
    {
        "inbox",
        "leads",
        "analytics",
        "settings",
        "simulator",
        "admin",
        "documents",
        "search",
        "send",
        "paperclip",
        "back",
        "user",
        "bot",
        "check",
        "clock",
        "alert",
        "file",
        "map",
        "note",
        "tag",
        "info",
        "message",
        "image",
        "smile",
        "refresh",
        "x",
        "list",
        "phone",
    }
)

# Sections of the base layout. Pages of part 2 (leads, analytics, settings) register these
# URL names; until they exist the link goes to the "coming soon" page.
NAV = [
    ("inbox", "Inbox", "inbox", False),
    ("leads", "Leads", "dashboard-leads", False),
    ("documents", "Documents", "dashboard-documents", False),
    ("analytics", "Analytics", "dashboard-analytics", False),
    ("settings", "Settings", "dashboard-settings", True),
    ("simulator", "Simulator", "simulator", False),
    ("admin", "Admin", "admin:index", True),
]


@register.simple_tag
def icon(name: str, label: str = ""):
    """An icon from the layout's sprite; decorative unless a label is given."""
    if name not in ICON_NAMES:
        return ""
    aria = format_html('role="img" aria-label="{}"', label) if label else mark_safe('aria-hidden="true"')
    return format_html('<svg class="icon" {} focusable="false"><use href="#i-{}"></use></svg>', aria, name)


def _url(name: str, section: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return reverse("coming-soon", kwargs={"section": section})


@register.inclusion_tag("layout/_nav.html", takes_context=True)
def dashboard_nav(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    owner = bool(user and user.is_authenticated and user_is_owner(user))
    path = request.path if request else "/"
    items = []
    for section, label, url_name, owners_only in NAV:
        if owners_only and not owner:
            continue
        url = _url(url_name, section)
        if section == "inbox":
            active = path == "/" or path.startswith("/c/")
        else:
            active = path.startswith(url) or path.startswith(f"/soon/{section}/")
        items.append({"section": section, "label": label, "url": url, "active": active})
    return {"items": items, "request": request}


@register.filter
def avatar_hue(value) -> int:
    """A stable colour slot (0–7) for a name, so a contact keeps its colour everywhere."""
    return zlib.crc32(str(value).encode()) % 8


@register.filter
def initials(value) -> str:
    words = [w for w in str(value).replace("+", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2]
    return words[0][0] + words[1][0]


@register.filter
def short_time(value: datetime | None) -> str:
    """Relative time for a list row: "now", "5m", "3h", "Tue", "12 Mar"."""
    if not value:
        return ""
    now = timezone.now()
    delta = now - value
    if delta < timedelta(minutes=1):
        return "now"
    if delta < timedelta(hours=1):
        return f"{int(delta.total_seconds() // 60)}m"
    if delta < timedelta(hours=24):
        return f"{int(delta.total_seconds() // 3600)}h"
    local = timezone.localtime(value)
    if delta < timedelta(days=6):
        return local.strftime("%a")
    return f"{local.day} {local.strftime('%b')}"


@register.filter
def filesize(value) -> str:
    try:
        size = int(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@register.filter
def message_text(value) -> str:
    """Customer or team text: escaped, links clickable (opening in a new tab), line breaks kept."""
    from django.utils.html import escape, urlize

    text = str(value or "")
    if "." not in text and "@" not in text:
        # Nothing urlize could link (it needs a dot or an @); it is the thread's costliest filter.
        return mark_safe(escape(text).replace("\n", "<br>"))
    html = urlize(text, trim_url_limit=60, nofollow=True, autoescape=True)
    html = html.replace("<a ", '<a target="_blank" rel="noopener noreferrer nofollow" ')
    return mark_safe(html.replace("\n", "<br>"))  # built from escaped text only


TICKS = {
    "queued": ("clock", "Queued"),
    "sending": ("clock", "Sending"),
    "sent": ("sent", "Sent"),
    "delivered": ("delivered", "Delivered"),
    "read": ("read", "Read"),
    "played": ("read", "Played"),
    "failed": ("failed", "Failed"),
    "dead": ("failed", "Not sent"),
}


@register.simple_tag
def tick(status: str):
    """Delivery ticks: clock (queued/sending), ✓ sent, ✓✓ delivered, blue ✓✓ read, ! failed."""
    kind, label = TICKS.get(status, ("clock", status or "Queued"))
    marks = {"sent": "✓", "failed": "!", "delivered": "✓✓", "read": "✓✓"}
    inner = (
        mark_safe('<svg class="icon" aria-hidden="true"><use href="#i-clock"></use></svg>')
        if kind == "clock"
        else marks[kind]
    )
    return format_html(
        '<span class="tick tick--{}" data-status="{}" title="{}"><span class="visually-hidden">{}</span>{}</span>',
        kind,
        status,
        label,
        label,
        inner,
    )


@register.filter
def media_size(message) -> str:
    try:
        return filesize(message.media_file.size) if message.media_file else ""
    except (OSError, ValueError):
        return ""


@register.filter
def map_url(location: dict) -> str:
    try:
        lat, lon = float(location.get("latitude")), float(location.get("longitude"))
    except (TypeError, ValueError, AttributeError):
        return ""
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def hours_left(value: datetime | None) -> str:
    if not value:
        return ""
    seconds = (value - timezone.now()).total_seconds()
    if seconds <= 0:
        return "closed"
    hours, rest = divmod(int(seconds), 3600)
    if hours:
        return f"{hours}h {rest // 60}m"
    return f"{rest // 60}m"


@register.filter
def person(user, fallback: str = "A teammate") -> str:
    """A teammate's name for the page: full name, else email, else ``fallback`` (no user)."""
    if user is None:
        return fallback
    return user.get_full_name() or user.email or user.get_username() or fallback
