"""Liveness/readiness: is the database reachable, is Redis reachable."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # any failure means "not ready", reported, never a 500
        return False, type(exc).__name__


def _redis_ok() -> tuple[bool, str]:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        return True, "ok"
    except Exception as exc:
        return False, type(exc).__name__


def healthz(request):
    db_ok, db_detail = _database_ok()
    redis_ok, redis_detail = _redis_ok()
    healthy = db_ok and redis_ok
    body = {"status": "ok" if healthy else "unavailable", "database": db_detail, "redis": redis_detail}
    return JsonResponse(body, status=200 if healthy else 503)
