"""Message-template settings (templates app): the page size of Meta's template listing in a
sync. Imports no app."""

import environ

_env = environ.Env()

# Templates per page of GET /<WABA_ID>/message_templates (Meta allows up to 1,000; its default
# is 25). Each page is one request against the WABA's ~200/h management budget (FACTS.md §4),
# and one step of the sync's progress on the settings page.
TEMPLATES_SYNC_PAGE_SIZE = _env.int("TEMPLATES_SYNC_PAGE_SIZE", default=100)
# A sync still "running" after this long lost its worker: the next "Sync" starts afresh.
TEMPLATES_SYNC_STALE_SECONDS = _env.int("TEMPLATES_SYNC_STALE_SECONDS", default=600)
