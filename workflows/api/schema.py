"""OpenAPI description of how client websites authenticate to the workflows API (drf-spectacular).

Imported by ``workflows.api.views`` so the extension is registered before a schema is built.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ClientApiKeyScheme(OpenApiAuthenticationExtension):
    """``X-Api-Key`` and ``X-Client-Code``, both required (one security requirement)."""

    target_class = "tenants.authentication.ClientApiKeyAuthentication"
    name = ["ClientApiKey", "ClientCode"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "The tenant's API key (bzm_…)."},
            {"type": "apiKey", "in": "header", "name": "X-Client-Code", "description": "The tenant's client code."},
        ]
