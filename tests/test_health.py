from django.test import Client


def test_healthz_ok_on_any_host(db, tenants_setup):
    for host in ("testserver", "alpha.test", "unknown.example"):
        response = Client(HTTP_HOST=host).get("/healthz")
        assert response.status_code == 200, host
        assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_503_when_redis_unreachable(db, tenants_setup, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"] != "ok" and response.json()["database"] == "ok"


def test_healthz_503_when_database_unreachable(live_db, settings):
    from django.db import connections

    conn = connections["default"]
    original = dict(conn.settings_dict)
    try:
        conn.close()
        conn.settings_dict["PORT"] = 1
        response = Client().get("/healthz")
    finally:
        conn.close()
        conn.settings_dict.update(original)
    assert response.status_code == 503
    assert response.json()["database"] != "ok"
