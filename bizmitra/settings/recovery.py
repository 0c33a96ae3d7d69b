"""Settings of the sweeps that recover side work lost with the broker (issue 13 §2). Imports no app.

Media downloads, document readings and parked statuses are owed by rows in the database;
these say when a row counts as forgotten and how often beat looks. Files sent by link are
owed our copy the same way (conversations.services.media.message_media_link_fetch).
"""

import environ

env = environ.Env()

# A media download still `pending` this long after its row last changed has no task any
# more (each failed try touches the row, and retries wait at most WHATSAPP_MEDIA_RETRY_MAX_SECONDS).
WHATSAPP_MEDIA_OWED_AFTER_SECONDS = env.int("WHATSAPP_MEDIA_OWED_AFTER_SECONDS", default=900)
# Older media are left alone: Meta keeps a received file about 30 days; a week is enough to retry.
WHATSAPP_MEDIA_OWED_MAX_AGE_SECONDS = env.int("WHATSAPP_MEDIA_OWED_MAX_AGE_SECONDS", default=7 * 24 * 3600)
WHATSAPP_MEDIA_SWEEP_EVERY_SECONDS = env.int("WHATSAPP_MEDIA_SWEEP_EVERY_SECONDS", default=60)

# A file sent by link is downloaded by us too (issue 12 §1). The link is the API caller's
# input fetched from inside our network, so only public addresses are fetched; networks
# listed here (CIDR, comma-separated) are allowed as well. Empty in every deployment: only
# the test settings list loopback, where the tests' HTTP servers listen.
WHATSAPP_MEDIA_LINK_ALLOW_NETWORKS = env.list("WHATSAPP_MEDIA_LINK_ALLOW_NETWORKS", default=[])
# Temporary failures (network, 5xx) are retried a few times; Meta has fetched the file by then
# or failed the send itself, and the sweep does not queue a failed row again.
WHATSAPP_MEDIA_LINK_MAX_RETRIES = env.int("WHATSAPP_MEDIA_LINK_MAX_RETRIES", default=4)
# Wall-clock bound of one download (a server trickling bytes must not hold the worker).
WHATSAPP_MEDIA_LINK_DEADLINE_SECONDS = env.int("WHATSAPP_MEDIA_LINK_DEADLINE_SECONDS", default=120)

# Meta retries a webhook for up to 7 days (FACTS.md §1.3): a status parked longer than that
# for a wamid we never stored will not find its message.
WHATSAPP_PENDING_STATUS_TTL_SECONDS = env.int("WHATSAPP_PENDING_STATUS_TTL_SECONDS", default=7 * 24 * 3600)
WHATSAPP_PENDING_STATUS_SWEEP_EVERY_SECONDS = env.int("WHATSAPP_PENDING_STATUS_SWEEP_EVERY_SECONDS", default=3600)

# A document still `queued` this long has lost its task; `processing` past the longest a
# reading may take (documents.services.document_reprocess's bound) lost its worker.
DOCUMENTS_OWED_AFTER_SECONDS = env.int("DOCUMENTS_OWED_AFTER_SECONDS", default=300)
DOCUMENTS_MAX_ATTEMPTS = env.int("DOCUMENTS_MAX_ATTEMPTS", default=3)
DOCUMENTS_SWEEP_EVERY_SECONDS = env.int("DOCUMENTS_SWEEP_EVERY_SECONDS", default=60)
