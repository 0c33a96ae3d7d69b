import json

from django.core.management.base import BaseCommand, CommandError

from bizmitra.errors import ValidationFailed
from tenants.services import tenant_onboard


class Command(BaseCommand):
    help = "Create a tenant: schema, domain, owner user, WhatsApp phone number and an API key."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--schema", required=True)
        parser.add_argument("--domain", required=True)
        parser.add_argument("--phone-number-id", required=True)
        parser.add_argument("--access-token", required=True)
        parser.add_argument("--app-secret", default="")
        parser.add_argument("--display-phone-number", default="")
        parser.add_argument("--waba-id", default="")
        parser.add_argument("--client-code", default="")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", required=True)
        parser.add_argument("--json", action="store_true", help="print one JSON object with the result")

    def handle(self, *args, **opts):
        try:
            result = tenant_onboard(
                name=opts["name"],
                schema_name=opts["schema"],
                domain=opts["domain"],
                phone_number_id=opts["phone_number_id"],
                access_token=opts["access_token"],
                app_secret=opts["app_secret"],
                display_phone_number=opts["display_phone_number"],
                waba_id=opts["waba_id"],
                client_code=opts["client_code"],
                owner_email=opts["owner_email"],
                owner_password=opts["owner_password"],
            )
        except ValidationFailed as exc:
            problems = "; ".join(f"{field}: {' '.join(reasons)}" for field, reasons in exc.fields.items())
            raise CommandError(f"{exc.message} {problems}") from exc
        out = {
            "schema": result.tenant.schema_name,
            "domain": result.domain.domain,
            "client_code": result.tenant.client_code,
            "api_key": result.api_key.raw_key,
            "phone_number_id": result.phone_number.phone_number_id,
            "owner_email": result.owner_email,
        }
        if opts["json"]:
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(self.style.SUCCESS(f"Created tenant {result.tenant.name}"))
            for key, value in out.items():
                self.stdout.write(f"  {key}: {value}")
            self.stdout.write("  (the API key is shown only now)")
