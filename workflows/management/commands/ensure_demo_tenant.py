"""`manage.py ensure_demo_tenant`: the demo's composition root (platform, admin, demo tenant)."""

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django_tenants.utils import tenant_context

from leads.models import LeadSettings
from tenants.models import Tenant
from tenants.services import public_tenant_ensure, tenant_onboard

DEMO = {
    "name": "Demo Dental Clinic",
    "schema_name": "demo",
    "domain": "demo.localhost",
    "phone_number_id": "106540352242922",
    "display_phone_number": "15550783881",
    "waba_id": "102290129340398",
    "client_code": "DEMO",
    "owner_email": "owner@demo.localhost",
    "owner_password": "demo-password",
}
PLATFORM_ADMIN = ("admin@localhost", "admin-password")


def _demo_lead_capture_on() -> None:
    """Demo chats asking for prices or a demo should show up as leads (off for new tenants).

    Call inside the demo's schema. The command is the demo's composition root, which is why it
    lives in workflows, the top app: it may use every app below.
    """
    LeadSettings.objects.update_or_create(pk=1, defaults={"create_leads_from_messages": True})


class Command(BaseCommand):
    help = "Create the platform tenant, a platform admin and the demo tenant if they do not exist yet."

    def add_arguments(self, parser):
        parser.add_argument("--platform-domain", default="localhost")
        parser.add_argument("--access-token", default="sandbox-demo-token")

    def handle(self, *args, **opts):
        public_tenant_ensure(domain=opts["platform_domain"])
        connection.set_schema_to_public()
        user_model = get_user_model()
        if not user_model.objects.filter(username=PLATFORM_ADMIN[0]).exists():
            user_model.objects.create_superuser(PLATFORM_ADMIN[0], PLATFORM_ADMIN[0], PLATFORM_ADMIN[1])
        tenant = Tenant.objects.filter(schema_name=DEMO["schema_name"]).first()
        api_key = None
        if tenant is None:
            result = tenant_onboard(access_token=opts["access_token"], app_secret="", **DEMO)
            # Like any key, the demo's is shown once: now, in the make run banner.
            tenant, api_key = result.tenant, result.api_key.raw_key
            with tenant_context(tenant):
                _demo_lead_capture_on()
        info = {
            "schema": tenant.schema_name,
            "domain": DEMO["domain"],
            "client_code": tenant.client_code,
            "owner_email": DEMO["owner_email"],
            "owner_password": DEMO["owner_password"],
            "phone_number_id": DEMO["phone_number_id"],
            # Empty after the first run: the key was printed then and only its hash is kept.
            "api_key": api_key or "",
            "graph_url": settings.WHATSAPP_GRAPH_URL,
            "platform_admin": PLATFORM_ADMIN[0],
            "platform_password": PLATFORM_ADMIN[1],
        }
        self.stdout.write(json.dumps(info))
