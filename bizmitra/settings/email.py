"""Outgoing email of the platform (team invitations; anything else a person must receive).

Django's configured backend, from the environment: SMTP by default (``EMAIL_HOST`` …), or any
backend path in ``EMAIL_BACKEND`` (``django.core.mail.backends.console.EmailBackend`` in a dev
shell). A tenant's own SMTP server for workflow emails is configured per tenant instead
(``workflows.services.email``). Imports no app.
"""

import environ

_env = environ.Env()

EMAIL_BACKEND = _env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = _env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = _env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = _env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = _env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = _env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = _env.bool("EMAIL_USE_SSL", default=False)
# A person waits for this mail on the page: fail fast rather than hold the request.
EMAIL_TIMEOUT = _env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = _env.str("DEFAULT_FROM_EMAIL", default="BizMitra <no-reply@bizmitra.local>")
