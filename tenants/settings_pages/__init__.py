"""Settings pages of the tenants app (issue 11 §4): API keys, team, WhatsApp numbers.

Thin views: parse the form, call one service (``tenants.services``, ``tenants.team.services``),
render the section (htmx) or the whole page. Owners only: the services and selectors refuse
everyone else with ``PermissionDenied``, which ``access.owner_required`` turns into the
friendly 403 of the settings shell.
"""
