"""Abuse protections (issue 13 §3): login lockout (django-axes), API rate limits (DRF
throttles on Redis), the Content-Security-Policy, and the configuration audit log
(django-auditlog), with the owners' page that shows lockouts and audit entries.

Sits at the top of the apps: it names the audited models of every app by label only
(settings ``AUDITLOG_INCLUDE_TRACKING_MODELS``) and imports no app but ``tenants``.
"""
