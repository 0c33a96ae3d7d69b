"""BizMitra settings, read from the environment (12-factor, django-environ).

`BIZMITRA_ENV=production` makes every secret mandatory: the process refuses to
start and names the missing variable instead of running with a dev default.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from bizmitra.queues import kombu_queues, queue_names, task_routes

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

BIZMITRA_ENV = env.str("BIZMITRA_ENV", default="development")
IS_PRODUCTION = BIZMITRA_ENV == "production"

# Dev-only defaults. In production each of these must come from the environment.
_DEV_DEFAULTS = {
    "SECRET_KEY": "dev-insecure-secret-key-change-me",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/bizmitra",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    # A valid Fernet key, for development only.
    "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXktMzI=",
    "ALLOWED_HOSTS": "*",
    "META_APP_SECRET": "dev-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "dev-verify-token",
}


def _required(name: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if IS_PRODUCTION:
        raise ImproperlyConfigured(
            f"Missing required setting: the environment variable {name} must be set "
            "when BIZMITRA_ENV=production (see .env.example)."
        )
    return _DEV_DEFAULTS[name]


SECRET_KEY = _required("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
ALLOWED_HOSTS = [h.strip() for h in _required("ALLOWED_HOSTS").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATABASE_URL = _required("DATABASE_URL")
REDIS_URL = _required("REDIS_URL")

# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = [k.strip() for k in _required("FIELD_ENCRYPTION_KEYS").split(",") if k.strip()]

WHATSAPP_GRAPH_URL = env.str("WHATSAPP_GRAPH_URL", default="https://graph.facebook.com").rstrip("/")
WHATSAPP_API_VERSION = env.str("WHATSAPP_API_VERSION", default="v25.0")
META_APP_SECRET = _required("META_APP_SECRET")
WHATSAPP_VERIFY_TOKEN = _required("WHATSAPP_VERIFY_TOKEN")
# Meta sends payloads of up to 3 MB (batches of up to 1,000 updates); leave headroom.
WHATSAPP_WEBHOOK_MAX_BYTES = env.int("WHATSAPP_WEBHOOK_MAX_BYTES", default=4 * 1024 * 1024)
# Inbound media downloads (conversations/tasks/inbound.py): exponential backoff, capped far
# below the broker's visibility timeout (shared/celery-notes.md §1).
WHATSAPP_MEDIA_MAX_RETRIES = env.int("WHATSAPP_MEDIA_MAX_RETRIES", default=10)
WHATSAPP_MEDIA_RETRY_BASE_SECONDS = env.float("WHATSAPP_MEDIA_RETRY_BASE_SECONDS", default=2.0)
WHATSAPP_MEDIA_RETRY_MAX_SECONDS = env.float("WHATSAPP_MEDIA_RETRY_MAX_SECONDS", default=600.0)
# Outbound send queue (conversations/services/outbound.py). Retry delays stay far below the
# broker's visibility timeout (3600 s, shared/celery-notes.md §1), else a task runs twice.
WHATSAPP_SEND_MAX_ATTEMPTS = env.int("WHATSAPP_SEND_MAX_ATTEMPTS", default=5)
WHATSAPP_SEND_RETRY_BASE_SECONDS = env.float("WHATSAPP_SEND_RETRY_BASE_SECONDS", default=4.0)
WHATSAPP_SEND_RETRY_MAX_SECONDS = env.float("WHATSAPP_SEND_RETRY_MAX_SECONDS", default=300.0)
# A send claimed longer ago than this, with no wamid and no status, is handed to a new attempt.
WHATSAPP_SEND_STUCK_AFTER_SECONDS = env.int("WHATSAPP_SEND_STUCK_AFTER_SECONDS", default=120)
# A send still queued this long after it was due lost its Celery task (broker restart):
# the reconcile sweep enqueues it again (the claim makes a duplicate task harmless).
WHATSAPP_SEND_QUEUED_STUCK_AFTER_SECONDS = env.int("WHATSAPP_SEND_QUEUED_STUCK_AFTER_SECONDS", default=20)
# Work still owed, found in the database whatever the broker lost (issue 9): inbound messages
# without a finished engine decision older than ENGINE_OWED_AFTER_SECONDS are run again by a
# sweep every ENGINE_SWEEP_EVERY_SECONDS; an unfinished claim older than
# ENGINE_CLAIM_STALE_SECONDS (longer than the AI timeout) may be taken over.
WHATSAPP_RECONCILE_EVERY_SECONDS = env.int("WHATSAPP_RECONCILE_EVERY_SECONDS", default=30)
# Webhook deliveries still pending this long lost their task: the sweeper (every N s) re-enqueues them.
WHATSAPP_WEBHOOK_STUCK_AFTER_SECONDS = env.int("WHATSAPP_WEBHOOK_STUCK_AFTER_SECONDS", default=30)
WHATSAPP_WEBHOOK_SWEEP_EVERY_SECONDS = env.int("WHATSAPP_WEBHOOK_SWEEP_EVERY_SECONDS", default=30)
ENGINE_OWED_AFTER_SECONDS = env.int("ENGINE_OWED_AFTER_SECONDS", default=60)
ENGINE_SWEEP_EVERY_SECONDS = env.int("ENGINE_SWEEP_EVERY_SECONDS", default=15)
ENGINE_CLAIM_STALE_SECONDS = env.int("ENGINE_CLAIM_STALE_SECONDS", default=60)
# While the engine's (ingest's) queue holds this many tasks, the owed-work (webhook) sweep
# leaves what is owed to it: merely waiting; what the broker lost is found once it runs down.
SWEEP_HOLD_QUEUED_TASKS = env.int("SWEEP_HOLD_QUEUED_TASKS", default=10)
# The engine sends its reply itself when the number's limiter has a slot this soon; else the
# reply goes through the send queue.
ENGINE_INLINE_SEND_MAX_WAIT_SECONDS = env.float("ENGINE_INLINE_SEND_MAX_WAIT_SECONDS", default=0.05)
WHATSAPP_GRAPH_TIMEOUT_SECONDS = env.float("WHATSAPP_GRAPH_TIMEOUT_SECONDS", default=15.0)
# Share of each number's messages_per_second we use (conversations/ratelimit.py explains why).
WHATSAPP_THROUGHPUT_SHARE = env.float("WHATSAPP_THROUGHPUT_SHARE", default=0.9)
WHATSAPP_THROUGHPUT_MAX_WAIT_SECONDS = env.float("WHATSAPP_THROUGHPUT_MAX_WAIT_SECONDS", default=1.0)
# Graph calls in flight at once per worker process when the engine delivers a batch's replies
# (outbound_delivery.messages_deliver): each call mostly waits on the network.
WHATSAPP_SEND_CONCURRENCY = env.int("WHATSAPP_SEND_CONCURRENCY", default=8)

OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="https://api.openai.com/v1")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
# Website knowledge fetches (conversations/ai/knowledge.py) refuse loopback and private
# addresses unless this is true (tests serve their sites on loopback).
KNOWLEDGE_FETCH_ALLOW_PRIVATE = env.bool("KNOWLEDGE_FETCH_ALLOW_PRIVATE", default=False)

# Google Calendar API v3 base URL (appointments); tests point it at a local server.
GOOGLE_CALENDAR_API_URL = env.str("GOOGLE_CALENDAR_API_URL", default="https://www.googleapis.com/calendar/v3").rstrip(
    "/"
)

SHARED_APPS = [
    "django_tenants",
    "tenants",
    "conversations.whatsapp",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI served from our own static files, never a CDN (issue 8).
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
]

# Everything business-specific lives in the tenant's own schema, users included:
# an owner of tenant A has no row at all in tenant B's schema.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "conversations",
    # The AppConfig path, not "templates": django-tenants' admin matches TENANT_APPS entries
    # to app labels, and this app's label is message_templates (issue 8).
    "templates.apps.TemplatesConfig",
    "leads",
    "workflows",
    "documents",
    # Invitations and roles, in the tenant's schema beside its users (tenants/team/__init__.py).
    "tenants.team",
]

INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "bizmitra.urls_public"
ROOT_URLCONF = "bizmitra.urls_tenant"
# Paths answered on any host, without resolving a tenant from the Host header.
HOST_AGNOSTIC_PATH_PREFIXES = ("/webhooks/", "/healthz", "/metrics", "/api/workflows/trigger", "/api/workflows/jobs/")
TENANT_LIMIT_SET_CALLS = True

DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=5)
# Parameters sent apart from the SQL instead of quoted into it by psycopg in Python (issue 9:
# quoting the bulk statements of a burst was 16 % of the replies worker, py-spy). It also lets
# the bulk statements send their arrays in binary (``%b``, bizmitra/db.py), five to ten times
# cheaper to build than the text form. Not a setting: ``%b`` needs it. (Prepared statements
# stay off, Django's default, so a transaction-mode connection pooler keeps working.)
DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)

MIDDLEWARE = [
    # X-Request-ID in and out, the log context and the access log (bizmitra/request_id.py).
    "bizmitra.request_id.RequestIdMiddleware",
    "bizmitra.middleware.HostAgnosticTenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Dashboard (issue 10): request.htmx for fragment-or-page views.
    "django_htmx.middleware.HtmxMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "bizmitra" / "html"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # ai_status for the "AI is off" banner (issue 8).
                "conversations.ai.context_processors.ai_status",
            ],
        },
    },
]

WSGI_APPLICATION = "bizmitra.wsgi.application"
ASGI_APPLICATION = "bizmitra.asgi.application"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Inbound WhatsApp media (Message.media_file) lands here through the default file storage.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
MEDIA_URL = "/media/"
# --- media storage and documents (issue 12) ------------------------------------------------
# One tenant-namespaced storage for every media file (bizmitra/storage.py): local files by
# default, MEDIA_STORAGE_BACKEND=s3 (django-storages) or =cloudinary; a tenant may also set
# its own Cloudinary account in the documents settings.
STORAGES = {
    "default": {"BACKEND": "bizmitra.storage.TenantMediaStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_STORAGE_BACKEND = env.str("MEDIA_STORAGE_BACKEND", default="local")
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", default="")
MEDIA_S3_ENDPOINT_URL = env.str("MEDIA_S3_ENDPOINT_URL", default="")  # R2, MinIO
MEDIA_S3_ACCESS_KEY_ID = env.str("MEDIA_S3_ACCESS_KEY_ID", default="")
MEDIA_S3_SECRET_ACCESS_KEY = env.str("MEDIA_S3_SECRET_ACCESS_KEY", default="")
MEDIA_S3_REGION = env.str("MEDIA_S3_REGION", default="")
CLOUDINARY_CLOUD_NAME = env.str("CLOUDINARY_CLOUD_NAME", default="")
CLOUDINARY_API_KEY = env.str("CLOUDINARY_API_KEY", default="")
CLOUDINARY_API_SECRET = env.str("CLOUDINARY_API_SECRET", default="")
CLOUDINARY_UPLOAD_PREFIX = env.str("CLOUDINARY_UPLOAD_PREFIX", default="")  # "" = api.cloudinary.com
MEDIA_LINK_SECONDS = env.int("MEDIA_LINK_SECONDS", default=300)
# OCR limits: a customer's file must not hold a worker for long.
DOCUMENTS_MAX_PAGES = env.int("DOCUMENTS_MAX_PAGES", default=20)
DOCUMENTS_MAX_PIXELS = env.int("DOCUMENTS_MAX_PIXELS", default=40_000_000)
DOCUMENTS_SECONDS_PER_PAGE = env.int("DOCUMENTS_SECONDS_PER_PAGE", default=60)
DOCUMENTS_UPLOAD_MAX_BYTES = env.int("DOCUMENTS_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
# Tesseract's threads per OCR job (OpenMP takes every core otherwise, next to the replies worker).
DOCUMENTS_OCR_THREADS = env.int("DOCUMENTS_OCR_THREADS", default=1)
# --- end media storage and documents ---------------------------------------------------------
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("REDIS_KEY_PREFIX", default="bizmitra"),
        "KEY_FUNCTION": "django_tenants.cache.make_key",
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.TenantApiKeyAuthentication",
        "tenants.authentication.TenantJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "bizmitra.errors.api_exception_handler",
}
SIMPLE_JWT = {"SIGNING_KEY": SECRET_KEY, "AUTH_HEADER_TYPES": ("Bearer",)}
SPECTACULAR_SETTINGS = {
    "TITLE": "BizMitra API",
    "VERSION": "1.0.0",
    # Issue 8: the docs work offline; Swagger UI/Redoc come from drf-spectacular-sidecar's static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Issue 13 §0: auth schemes of our classes, the shared error answers (bizmitra/openapi.py).
    "PREPROCESSING_HOOKS": ["bizmitra.openapi.preprocess"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "bizmitra.openapi.error_responses"],
    # Choice sets that share a field name ("status", "kind", "source") get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "DocumentStatusEnum": "documents.choices.DocumentStatus",
        "DocumentKindEnum": "documents.choices.DocumentKind",
        "DocumentSourceEnum": "documents.choices.DocumentSource",
        "LeadSourceEnum": "leads.choices.LeadSource",
    },
}

# Celery: Redis broker, tasks run in the schema they were sent from (tenant-schemas-celery).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# kombu's Redis transport, minus a crash that stopped workers when Redis restarted
# (bizmitra/broker.py); other schemes (rediss://, sentinel://) keep kombu's own.
CELERY_BROKER_TRANSPORT = "bizmitra.broker:Transport" if CELERY_BROKER_URL.startswith("redis://") else None
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
# Without this Celery's Django fixup closes the DB connection before and after every task,
# so each task pays a new PostgreSQL connection (a backend fork): the main cost of a workflow
# job in bench/workflows_lateness.py. Connections are still dropped when broken or older than
# CONN_MAX_AGE, as after a web request (bizmitra/celery.py).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="bizmitra")
# One queue per kind of work, so a reply never waits behind other work (bizmitra/queues.py).
CELERY_QUEUES_BY_ROLE = queue_names(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_ROUTES = task_routes(CELERY_TASK_DEFAULT_QUEUE)
# A worker started without -Q (docker compose, k8s) takes every queue; the Procfile splits them.
CELERY_TASK_QUEUES = kombu_queues(CELERY_TASK_DEFAULT_QUEUE)
# ETA/countdown beyond the visibility timeout would be redelivered and run twice
# (shared/celery-notes.md §1); nothing we enqueue is due further out than this.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("REDIS_KEY_PREFIX", default="bizmitra") + ":asgi"},
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"tenant_context": {"()": "django_tenants.log.TenantContextFilter"}},
    "formatters": {
        "readable": {"format": "%(asctime)s %(levelname)-7s [%(schema_name)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["tenant_context"], "formatter": "readable"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Behind an ingress that terminates TLS: trust its X-Forwarded-Proto.
if env.bool("TRUST_X_FORWARDED_PROTO", default=IS_PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)


# --- LIVE_WEBSOCKET_URL (issue 8) -------------------------------------------------------
# Where dashboards open their websocket (daphne); {host} is the page's host. Checked here,
# at startup: a malformed value (an unknown {placeholder}, a stray brace) used to surface
# as a 500 on every dashboard request instead.
def _live_websocket_url(value: str) -> str:
    import string
    from urllib.parse import urlsplit

    problem = ""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        problem = f"{exc} (write a literal brace as {{{{ or }}}})"
    else:
        extra = [
            "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            for name, spec, conv in fields
            if name != "host" or spec or conv
        ]
        if extra:
            problem = f"only {{host}} may appear in braces, not {', '.join(extra)}"
        elif urlsplit(value.format(host="example.com")).scheme not in ("ws", "wss"):
            problem = "it must start with ws:// or wss://"
    if problem:
        raise ImproperlyConfigured(
            f"The environment variable LIVE_WEBSOCKET_URL={value!r} is not valid: {problem}. "
            "Example: ws://{host}:8001/ws/inbox/"
        )
    return value


LIVE_WEBSOCKET_URL = _live_websocket_url(env.str("LIVE_WEBSOCKET_URL", default="ws://{host}:8001/ws/inbox/"))
# --- end LIVE_WEBSOCKET_URL ----------------------------------------------------------------
from bizmitra.settings.analytics import *  # noqa: E402,F403
from bizmitra.settings.email import *  # noqa: E402,F403
from bizmitra.settings.message_templates import *  # noqa: E402,F403
from bizmitra.settings.observability import *  # noqa: E402,F403
from bizmitra.settings.recovery import *  # noqa: E402,F403
from bizmitra.settings.security import *  # noqa: E402,F403
from bizmitra.settings.signup import *  # noqa: E402,F403
from bizmitra.settings.team import *  # noqa: E402,F403
