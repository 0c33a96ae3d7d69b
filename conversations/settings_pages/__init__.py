"""Owner settings pages of the dashboard (issue 11 §4): profile, bots, AI, website knowledge.

The shell every settings page extends is ``layout/settings_base.html``; how to add a page is in
``bizmitra/html/layout/README.md``. Views are thin: the access check is
``conversations.selectors.user_is_owner`` (agents get the friendly 403 page), reads go through
``selectors.py`` and writes through the services of the owning modules.
"""
