"""Who may open a settings page: owners only; everyone else gets a friendly 403 page.

One home for the rule, in the lowest app that has settings pages (``tenants``); re-exported
here for the conversations, templates and security pages.
"""

from tenants.settings_pages.access import forbidden, owner_required

__all__ = ["forbidden", "owner_required"]
