"""Self-serve sign-up (issue 11 §5): tenant addresses, email, rate limits, Sign in with Google.

Included at the end of base.py; imports no app.
"""

import environ

_env = environ.Env()

# New tenants get the host <slug>.<TENANT_BASE_DOMAIN>. "localhost" works in development
# without DNS: browsers resolve every *.localhost name to loopback. Production sets the
# platform's domain and lists ".<domain>" in ALLOWED_HOSTS.
TENANT_BASE_DOMAIN = _env.str("TENANT_BASE_DOMAIN", default="localhost").strip(".").lower()
# New tenants are cloned from this schema (kept migrated; made on first use), then migrated:
# a clone takes under a second where running every migration takes several (bench/signup.py).
SIGNUP_TEMPLATE_SCHEMA = _env.str("SIGNUP_TEMPLATE_SCHEMA", default="signup_template")
# Sign-up attempts (POSTs) per client IP, in django-ratelimit's rate syntax.
SIGNUP_RATE_LIMIT = _env.str("SIGNUP_RATE_LIMIT", default="10/h")
SIGNIN_RATE_LIMIT = _env.str("SIGNIN_RATE_LIMIT", default="30/h")
# How long an email verification link stays valid.
SIGNUP_VERIFY_MAX_AGE_SECONDS = _env.int("SIGNUP_VERIFY_MAX_AGE_SECONDS", default=3 * 24 * 3600)
# Stricter than AUTH_PASSWORD_VALIDATORS (which existing users were created under): a new
# owner's password guards a whole business.
SIGNUP_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The verification email goes through the platform's email settings (bizmitra/settings/email.py).

# Sign in with Google (OAuth 2.0 authorization code + OpenID Connect id_token). Off while
# GOOGLE_OAUTH_CLIENT_ID is empty. The endpoints are Google's by default; tests point them
# at a local server speaking the same wire format (tenants/tests/google_oidc_server.py).
GOOGLE_OAUTH_CLIENT_ID = _env.str("GOOGLE_OAUTH_CLIENT_ID", default="")
GOOGLE_OAUTH_CLIENT_SECRET = _env.str("GOOGLE_OAUTH_CLIENT_SECRET", default="")
GOOGLE_ACCOUNTS_URL = _env.str("GOOGLE_ACCOUNTS_URL", default="https://accounts.google.com").rstrip("/")
GOOGLE_OAUTH2_TOKEN_URL = _env.str("GOOGLE_OAUTH2_TOKEN_URL", default="https://oauth2.googleapis.com/token")
GOOGLE_OAUTH2_CERTS_URL = _env.str("GOOGLE_OAUTH2_CERTS_URL", default="https://www.googleapis.com/oauth2/v3/certs")
GOOGLE_OIDC_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
# The redirect URI registered with Google (one, on the platform host: Google allows no
# wildcard, so tenant hosts cannot be callbacks). Empty: built from the request's host.
GOOGLE_OAUTH_REDIRECT_URI = _env.str("GOOGLE_OAUTH_REDIRECT_URI", default="")
