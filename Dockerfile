# BizMitra: one image for every process (web, realtime, worker, beat, migrate).
# The default command is the web server; docker-compose.yml and k8s/ set the others.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=bizmitra.settings.base

# tesseract-ocr: pytesseract only wraps the binary (OCR of documents customers send).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr \
    && rm -rf /var/lib/apt/lists/*

# Numeric ids so Kubernetes' runAsNonRoot can check them.
RUN groupadd --system --gid 10001 bizmitra \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/bizmitra \
       --shell /usr/sbin/nologin bizmitra

WORKDIR /app

# Requirements first so code changes do not reinstall dependencies.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY --chown=10001:10001 . .

USER 10001:10001

# Static files are baked into the image (granian serves them from /app/var/staticfiles).
# Settings read the environment at import: give them throwaway values for this step only.
# BIZMITRA_ENV is deliberately not "production" here, and nothing connects to PostgreSQL or Redis.
RUN BIZMITRA_ENV=build \
    SECRET_KEY=build-only-not-secret \
    DATABASE_URL=postgres://build@127.0.0.1:5432/build \
    REDIS_URL=redis://127.0.0.1:6379/0 \
    FIELD_ENCRYPTION_KEYS=ZGV2LW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXktMzI= \
    ALLOWED_HOSTS=localhost \
    META_APP_SECRET=build \
    WHATSAPP_VERIFY_TOKEN=build \
    python manage.py collectstatic --noinput -v 0

EXPOSE 8000 8001

# /healthz checks PostgreSQL and Redis. The Host header must be in ALLOWED_HOSTS (keep
# "localhost" there). Processes without HTTP (worker, beat, migrate) override or disable this;
# daphne sets HEALTHCHECK_PORT=8001.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:%s/healthz' % os.environ.get('HEALTHCHECK_PORT', '8000'), headers={'Host': 'localhost'}), timeout=8)"]

# Threads per granian worker: enough to overlap database/Redis waits, few enough to keep the
# GIL quiet and PostgreSQL connections bounded (its default for WSGI is 256 per worker).
ENV GRANIAN_BLOCKING_THREADS=4
# Every process of a container (granian's workers, Celery's pool) writes its metrics here and
# /metrics adds them up (bizmitra/metrics.py); a new container starts with it empty.
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/bizmitra-metrics LOG_FORMAT=json
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", \
     "--static-path-mount", "/app/var/staticfiles", "bizmitra.wsgi:application"]
