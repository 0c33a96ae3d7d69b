"""Team settings (tenants.team): how long an invitation link stays valid. Imports no app."""

import environ

_env = environ.Env()

TEAM_INVITATION_MAX_AGE_SECONDS = _env.int("TEAM_INVITATION_MAX_AGE_SECONDS", default=7 * 24 * 3600)
