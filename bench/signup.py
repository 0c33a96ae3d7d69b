"""Benchmark: how long a self-serve sign-up takes, and where the time goes (not a test).

Run:  .venv/bin/python bench/signup.py [--signups 5]

Creates a scratch database ``bizmitra_bench_signup`` (dropped first and at the end), migrates
the public schema, then:
1. creates ``--signups`` tenants the way TenantMixin.save does by default: a new schema and
   every tenant migration run on it (what ``tenant_onboard`` does);
2. creates ``--signups`` tenants through ``tenant_signup`` (the template schema copied, then
   the owner, domain and allow-list rows), after one warm-up that creates the template;
and prints seconds per tenant (median and max) for each, with the copy's share. Target
(issue 11 §5): a new tenant ready in under 3 s.

Needs PostgreSQL reachable as for `make test` (scripts/services.py finds it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import log, recreate_database, services_env  # noqa: E402

BENCH_DB = "bizmitra_bench_signup"
PREFIX = f"bizmitra-bench-signup-{os.getpid()}"


def figures(label: str, values: list[float]) -> str:
    return f"  {label:<52} median {statistics.median(values):5.2f} s   max {max(values):5.2f} s   (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signups", type=int, default=5)
    args = parser.parse_args()

    found = services_env(BENCH_DB)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bizmitra.settings.base",
        DATABASE_URL=urlsplit(found["DATABASE_URL"])._replace(path=f"/{BENCH_DB}").geturl(),
        REDIS_URL=found["REDIS_URL"],
        DEBUG="false",
        LOG_LEVEL="WARNING",
        REDIS_KEY_PREFIX=PREFIX,
        CELERY_TASK_DEFAULT_QUEUE=PREFIX,
        ALLOWED_HOSTS="*",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    os.environ.update(env)
    log(f"scratch database {BENCH_DB}")
    recreate_database(env["DATABASE_URL"], BENCH_DB)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate_schemas", "--shared", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        import django

        django.setup()
        from django.db import connection

        from tenants.models import Tenant
        from tenants.services import public_tenant_ensure
        from tenants.signup import services

        public_tenant_ensure(domain="localhost")
        full, cloned, copy = [], [], []
        for i in range(args.signups):
            t0 = time.monotonic()
            Tenant(schema_name=f"full{i}", name=f"Full {i}", client_code=f"FULL{i}").save(verbosity=0)
            full.append(time.monotonic() - t0)
            connection.set_schema_to_public()
        log("warm-up sign-up (creates the template schema)")
        t0 = time.monotonic()
        services.tenant_signup(
            business_name="Warm Up", slug="warm-up", email="w@bench.test", password="Sturdy-Mango-42"
        )
        log(f"  first sign-up, template included: {time.monotonic() - t0:.2f} s")
        original = services.tenant_schema_create

        def timed_schema_create(**kwargs):
            t = time.monotonic()
            original(**kwargs)
            copy.append(time.monotonic() - t)

        services.tenant_schema_create = timed_schema_create
        for i in range(args.signups):
            t0 = time.monotonic()
            services.tenant_signup(
                business_name=f"Bench Shop {i}", slug=f"bench-{i}", email=f"o{i}@bench.test", password="Sturdy-Mango-42"
            )
            cloned.append(time.monotonic() - t0)
        print("\nSign-up: seconds until a tenant is ready")
        print(figures("schema + every migration (TenantMixin default)", full))
        print(figures("tenant_signup (template copy + rows)", cloned))
        print(figures("  of which: template check + copy", copy))
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(env["DATABASE_URL"], BENCH_DB, create=False)


if __name__ == "__main__":
    main()
