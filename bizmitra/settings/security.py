"""Abuse protections (issue 13 §3): login lockout, API rate limits, security headers, CORS,
the audit log, and the production transport settings `check --deploy` asks for.

Included by one line at the end of ``base.py``; it extends the lists base.py built (apps,
middleware, REST_FRAMEWORK) instead of editing them there. Imports no app.
"""

from datetime import timedelta

from csp.constants import NONCE, NONE, SELF

from bizmitra.settings.base import (
    BASE_DIR,  # noqa: F401 - kept for modules included after this one
    IS_PRODUCTION,
    MIDDLEWARE,
    REST_FRAMEWORK,
    SHARED_APPS,
    TENANT_APPS,
    env,
)

# --- apps ----------------------------------------------------------------------------------
# Users live in each tenant's schema (base.py), so failed logins and audit rows are kept
# where the account is: axes and auditlog are in TENANT_APPS (a tenant's owner sees only
# their own lockouts; "owner@x" locked out in tenant A is not locked in tenant B) and in
# SHARED_APPS too, for the platform admin's own users on the public host.
_SECURITY_SHARED = ["axes", "auditlog", "corsheaders"]
_SECURITY_TENANT = ["axes", "auditlog", "security"]
SHARED_APPS = [*SHARED_APPS, *(app for app in _SECURITY_SHARED if app not in SHARED_APPS)]
TENANT_APPS = [*TENANT_APPS, *(app for app in _SECURITY_TENANT if app not in TENANT_APPS)]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]


def _insert_after(middleware: list[str], anchor: str, entry: str) -> list[str]:
    if entry in middleware:
        return middleware
    at = middleware.index(anchor) + 1 if anchor in middleware else len(middleware)
    return [*middleware[:at], entry, *middleware[at:]]


MIDDLEWARE = list(MIDDLEWARE)
# CORS answers preflights before CommonMiddleware's redirects (django-cors-headers' docs).
MIDDLEWARE = _insert_after(
    MIDDLEWARE, "django.middleware.security.SecurityMiddleware", "corsheaders.middleware.CorsMiddleware"
)
MIDDLEWARE = _insert_after(MIDDLEWARE, "corsheaders.middleware.CorsMiddleware", "security.csp.DashboardCSPMiddleware")
MIDDLEWARE = _insert_after(
    MIDDLEWARE, "django.contrib.auth.middleware.AuthenticationMiddleware", "security.audit.AuditActorMiddleware"
)
# Last, as django-axes asks: it turns a lockout flagged during the view into the lockout page.
if "axes.middleware.AxesMiddleware" not in MIDDLEWARE:
    MIDDLEWARE = [*MIDDLEWARE, "axes.middleware.AxesMiddleware"]

# --- proxies --------------------------------------------------------------------------------
# How many reverse proxies (the k8s ingress) append to X-Forwarded-For in front of the web
# pods. The client is the address the outermost of them saw; 0 = use REMOTE_ADDR (no proxy,
# and a client-sent X-Forwarded-For is never believed).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1 if IS_PRODUCTION else 0)

# --- login lockout (django-axes) -------------------------------------------------------------
# The dashboard login, both admin sites and the JWT token endpoint all authenticate through
# django.contrib.auth, where axes' backend refuses a locked account or address first.
AUTHENTICATION_BACKENDS = [
    "security.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# Failures (per account, and separately per client address) before sign-in is refused.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15))
# Either criterion locks: an account being guessed from many addresses, or one address
# guessing many accounts.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# A wrong password while locked must not extend the lock forever (a bot keeps trying).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_ACCESS_FAILURE_LOG_PER_USER_LIMIT = 200
AXES_LOCKOUT_CALLABLE = "security.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "security.lockout.client_ip"
AXES_VERBOSE = False

# --- API rate limits (DRF throttles on the Redis cache) --------------------------------------
# Read by security.throttles at request time (so tests can override them per test).
# "<n>/<second|minute|hour|day>". Client websites' workflow trigger API has its own budget.
API_THROTTLE_RATES = {
    "user": env.str("API_RATE_USER", default="600/minute"),
    "api_key": env.str("API_RATE_API_KEY", default="600/minute"),
    "workflow_trigger": env.str("API_RATE_WORKFLOW_TRIGGER", default="3000/minute"),
    "anon": env.str("API_RATE_ANON", default="60/minute"),
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_CLASSES": [
        "security.throttles.UserRateThrottle",
        "security.throttles.ApiKeyRateThrottle",
        "security.throttles.WorkflowTriggerRateThrottle",
        "security.throttles.AnonRateThrottle",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT or None,
}

# --- security headers -------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4): everything from our own origin; htmx's indicator
# <style> carries the request's nonce (layout/base.html); the inbox websocket's origin is
# added per request from LIVE_WEBSOCKET_URL by security.csp.DashboardCSPMiddleware.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "media-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Swagger UI (drf-spectacular) boots from an inline <script> it renders itself.
CSP_INLINE_SCRIPT_PATH_PREFIXES = ("/api/docs/",)

# --- CORS (django-cors-headers): off unless origins are listed --------------------------------
# Only the host-agnostic client-website API may be called from a browser on another origin
# (the widget, later); the dashboard and the rest of the API are same-origin only.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/workflows/(trigger|jobs/).*$"
CORS_ALLOW_HEADERS = ["accept", "content-type", "x-api-key", "x-client-code", "x-request-id"]
CORS_ALLOW_CREDENTIALS = False

# --- audit log (django-auditlog) ---------------------------------------------------------------
# Secrets are recorded as "changed", never by value (security.audit.mask_secret).
AUDITLOG_MASK_CALLABLE = "security.audit.mask_secret"
AUDITLOG_DISABLE_REMOTE_ADDR = False
# Changes keep their JSON types (numbers, booleans, null) instead of strings.
AUDITLOG_STORE_JSON_CHANGES = True
_NOT_AUDITED = ["updated_at", "created_at"]


def _audited(model: str, *, exclude: tuple[str, ...] = (), mask: tuple[str, ...] = (), m2m: tuple[str, ...] = ()):
    return {
        "model": model,
        "exclude_fields": [*_NOT_AUDITED, *exclude],
        "mask_fields": list(mask),
        "m2m_fields": list(m2m),
    }


# What an owner, agent or staff member configures: templates, flows, bots, keys, team, numbers
# (issue 13 §3), plus the other settings rows. Conversations, messages and leads are business
# data with their own timelines, not configuration.
AUDITLOG_INCLUDE_TRACKING_MODELS = [
    _audited("message_templates.MessageTemplate"),
    _audited("message_templates.TemplateButton"),
    _audited("message_templates.TemplateListRow"),
    _audited("message_templates.FlowRule"),
    _audited("message_templates.FlowSettings"),
    _audited("conversations.Bot"),
    _audited("conversations.BotPhoneNumber"),
    _audited("conversations.BotSchedule"),
    _audited("conversations.WorkingHours"),
    _audited("conversations.HandoffSettings"),
    _audited("conversations.AIAssistantSettings", exclude=("knowledge_fetched_at",), mask=("api_key",)),
    _audited("conversations.InboxSettings"),
    _audited("conversations.Label"),
    _audited("conversations.CannedResponse"),
    _audited("tenants.PhoneNumber", mask=("access_token", "app_secret")),
    _audited("tenants.ApiKey", exclude=("key_hash", "last_used_at")),
    _audited("auth.User", exclude=("password", "last_login"), m2m=("groups",)),
    _audited("leads.LeadSettings"),
    _audited("leads.GoogleCalendarSettings", mask=("service_account_json",)),
    _audited("workflows.CommunicationWorkflow"),
    _audited("workflows.WorkflowTrigger"),
    _audited("workflows.TenantEmailSettings", mask=("password",)),
    _audited("documents.DocumentSettings", mask=("cloudinary_api_secret",)),
]

# --- transport (check --deploy clean in production) -------------------------------------------
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # k8s probes and the in-cluster Prometheus scrape the pod over plain HTTP.
    SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[r"^healthz$", r"^metrics$"])
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    # Tenants are sub-domains of the platform's domain: all of them are HTTPS only.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SILENCED_SYSTEM_CHECKS = [
        # Preloading is the operator's choice (hstspreload.org submission, hard to undo):
        # SECURE_HSTS_PRELOAD=true sends it.
        "security.W021",
    ]
