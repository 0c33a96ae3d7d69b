"""drf-spectacular hooks and extensions: the schema says what the API really does (issue 13 §0).

- Every authentication class is a declared scheme (the tenant API key and the JWT as HTTP
  bearer here; ``X-Api-Key`` + ``X-Client-Code`` in ``workflows/api/schema.py``; the
  dashboard's session cookie by drf-spectacular), so clients can be generated from it. The
  extensions register when this module is imported: ``SPECTACULAR_SETTINGS["PREPROCESSING_HOOKS"]``
  names ``preprocess`` here, which drf-spectacular imports before it builds the schema.
- ``error_responses`` (a postprocessing hook) declares the error answers every operation can
  give, in the one error shape of ``bizmitra.errors`` (``{"error", "message", "fields"}``),
  once, instead of per view: 400/422 (invalid input), 401/403 (credentials), 404, 409
  (conflict), 415 (body type), 429 (throttled), 503.
- ``SchemaView``: the schema endpoint answers its own errors in JSON, not in the YAML renderer.
- ``_blank_enums``: a read-only choice field (a model field with ``blank=True`` shown as
  stored) may hold ``""``: it is declared as its enum or ``BlankEnum``.
The kernel imports no app: the authentication classes are named by their dotted paths.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer

ERROR_SCHEMA = "Error"

_ERRORS = {
    "400": "Bad request: a parameter or the body is not valid.",
    "401": "Missing or invalid credentials.",
    "403": "Authenticated, but not allowed to do this.",
    "404": "Not found in this tenant.",
    "405": "Method not allowed.",
    "406": "The Accept header asks for a format the API does not produce.",
    "409": "Conflicts with the current state (already done, duplicate).",
    "415": "Unsupported body type.",
    "422": "The input is well-formed but invalid (field errors in `fields`).",
    "429": "Too many requests: retry after the Retry-After header's seconds.",
    "503": "A service the request needs is unavailable; retry later.",
}


class TenantApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.TenantApiKeyAuthentication"
    name = "apiKeyBearer"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "bzm_<key>",
            "description": "A tenant API key (`Authorization: Bearer bzm_…`), on the tenant's own domain.",
        }


class TenantJWTScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.TenantJWTAuthentication"
    name = "jwtAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class SchemaView(SpectacularAPIView):
    """``/api/schema/``, whose errors are JSON like every other operation's."""

    def perform_content_negotiation(self, request, force=False):
        if force:
            # Negotiation failed (a ``?format=`` or Accept no renderer takes): DRF would render
            # the 404/406 with the first renderer, YAML, where the schema promises JSON.
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)


def preprocess(endpoints: list, **kwargs: Any) -> list:
    """No change to the endpoints; naming it in the settings imports the extensions above."""
    return endpoints


def error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Declare the shared error answers on every operation (kept where a view declared its own)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        ERROR_SCHEMA,
        {
            "type": "object",
            "properties": {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
            },
            "required": ["error", "message"],
            "additionalProperties": True,
        },
    )
    error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in _ERRORS.items():
                operation["responses"].setdefault(code, {"description": description, "content": error})
    _blank_enums(result)
    return result


def _blank_enums(result: dict[str, Any]) -> None:
    # drf-spectacular adds BlankEnum only to writable fields with allow_blank; a read-only
    # choice field of a blank=True model field can be "" just the same (builtin_intent,
    # meta_parameter_format).
    schemas = result.get("components", {}).get("schemas", {})
    used = False
    for schema in list(schemas.values()):
        for prop in schema.get("properties", {}).values():
            refs = prop.get("allOf")
            if not prop.get("readOnly") or not isinstance(refs, list) or len(refs) != 1 or "$ref" not in refs[0]:
                continue
            target = schemas.get(refs[0]["$ref"].rsplit("/", 1)[-1], {})
            if isinstance(target.get("enum"), list) and "" not in target["enum"]:
                prop["oneOf"] = [refs[0], {"$ref": "#/components/schemas/BlankEnum"}]
                del prop["allOf"]
                used = True
    if used:
        schemas.setdefault("BlankEnum", {"enum": [""]})
