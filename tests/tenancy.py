"""The two tenants every test session has, and clients bound to their domains."""

from django.test import Client

ALPHA = {
    "name": "Alpha Dental",
    "schema_name": "alpha",
    "domain": "alpha.test",
    "phone_number_id": "106540352242922",
    "display_phone_number": "15550783881",
    "waba_id": "102290129340398",
    "client_code": "ALPHA",
    "access_token": "alpha-token",
    "owner_email": "owner@alpha.test",
    "owner_password": "alpha-password",
}
BETA = {
    "name": "Beta Salon",
    "schema_name": "beta",
    "domain": "beta.test",
    "phone_number_id": "106540352242923",
    "display_phone_number": "15550783882",
    "waba_id": "102290129340399",
    "client_code": "BETA",
    "access_token": "beta-token",
    "owner_email": "owner@beta.test",
    "owner_password": "beta-password",
}


PASSWORDS = {ALPHA["owner_email"]: ALPHA["owner_password"], BETA["owner_email"]: BETA["owner_password"]}


def tenant_client(onboarding, *, login: bool = False) -> Client:
    """A Django test client on the tenant's own domain, optionally signed in as its owner."""
    client = Client(HTTP_HOST=onboarding.domain.domain)
    if login:
        # Through the real login page, so the session lands in the tenant's own schema.
        response = client.post(
            "/login/", {"username": onboarding.owner_email, "password": PASSWORDS[onboarding.owner_email]}
        )
        assert response.status_code == 302, "owner login failed"
    return client
