"""One error tree for the whole project, rendered by one DRF exception handler.

Services raise ``ApplicationError`` subclasses; API views never build error
bodies by hand. Every error body has the shape
``{"error": <code>, "message": <text>, "fields": {<field>: [<reason>, ...]}}``.
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404


class ApplicationError(Exception):
    """A failure the caller can act on; carries an HTTP status for API callers."""

    code = "application_error"
    http_status = 400

    def __init__(self, message: str, *, fields: dict | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    code = "validation_error"
    http_status = 422


class NotFound(ApplicationError):
    code = "not_found"
    http_status = 404


class Conflict(ApplicationError):
    code = "conflict"
    http_status = 409


class AuthenticationFailed(ApplicationError):
    code = "authentication_failed"
    http_status = 401


def error_body(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    body = {"error": code, "message": message, "fields": fields or {}}
    body.update(extra)
    return body


def _normalise_fields(detail) -> dict:
    if isinstance(detail, dict):
        return {k: v if isinstance(v, list) else [v] for k, v in detail.items()}
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def api_exception_handler(exc, context):
    # Imported here: rest_framework.views loads the auth classes, which import services, which import this module.
    from rest_framework import exceptions as drf_exceptions
    from rest_framework.response import Response
    from rest_framework.views import exception_handler

    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.fields, **exc.extra), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("validation_error", "Invalid input.", fields), status=422)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = error_body("validation_error", "Invalid input.", _normalise_fields(exc.detail))
        return response
    code = getattr(exc, "default_code", "error")
    detail = response.data.get("detail", str(exc)) if isinstance(response.data, dict) else str(exc)
    response.data = error_body(str(code), str(detail))
    return response


def not_found(request, exception=None):
    """``handler404``: an unknown URL under ``/api/`` answers in the API's error shape (JSON,
    as the OpenAPI schema declares for 404), everything else with Django's page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "No such API endpoint or object."), status=404)
    return page_not_found(request, exception)
