"""Sign in with Google: the OAuth 2.0 authorization-code flow and the OpenID Connect id_token.

Google's wire format in one place (https://developers.google.com/identity/openid-connect/openid-connect):
the authorize redirect, the code-for-tokens POST, and the id_token's RS256 signature checked
against Google's JWKS by google-auth. Every endpoint comes from settings, so tests run it
against a local server speaking the same format (tenants/tests/google_oidc_server.py).
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from django.conf import settings
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import id_token as google_id_token

from bizmitra.errors import ApplicationError


class GoogleSignInFailed(ApplicationError):
    code = "google_sign_in_failed"
    http_status = 400


def google_enabled() -> bool:
    return bool(settings.GOOGLE_OAUTH_CLIENT_ID and settings.GOOGLE_OAUTH_CLIENT_SECRET)


def authorization_url(*, redirect_uri: str, state: str, nonce: str) -> str:
    query = {
        "client_id": settings.GOOGLE_OAUTH_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid email profile",
        "state": state,
        "nonce": nonce,
        "prompt": "select_account",
    }
    return f"{settings.GOOGLE_ACCOUNTS_URL}/o/oauth2/v2/auth?{urlencode(query)}"


def code_exchange(*, code: str, redirect_uri: str) -> str:
    """Trade the authorization code for tokens; the raw id_token (a JWT)."""
    try:
        response = httpx.post(
            settings.GOOGLE_OAUTH2_TOKEN_URL,
            data={
                "code": code,
                "client_id": settings.GOOGLE_OAUTH_CLIENT_ID,
                "client_secret": settings.GOOGLE_OAUTH_CLIENT_SECRET,
                "redirect_uri": redirect_uri,
                "grant_type": "authorization_code",
            },
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise GoogleSignInFailed("Google could not be reached. Please try again.") from exc
    if response.status_code != 200:
        try:
            reason = response.json().get("error_description") or response.json().get("error")
        except ValueError:
            reason = None
        raise GoogleSignInFailed(f"Google refused the sign-in ({reason or response.status_code}). Please try again.")
    token = (response.json() or {}).get("id_token")
    if not token:
        raise GoogleSignInFailed("Google's answer held no identity token.")
    return token


def id_token_verify(*, token: str, nonce: str) -> dict:
    """The id_token's claims once its signature, audience, issuer, expiry and nonce check out,
    and Google says the email is verified."""
    try:
        claims = google_id_token.verify_token(
            token, GoogleRequest(), audience=settings.GOOGLE_OAUTH_CLIENT_ID, certs_url=settings.GOOGLE_OAUTH2_CERTS_URL
        )
    except Exception as exc:  # google-auth and PyJWT raise several unrelated types
        raise GoogleSignInFailed("Google's identity token did not verify.") from exc
    if claims.get("iss") not in settings.GOOGLE_OIDC_ISSUERS:
        raise GoogleSignInFailed("The identity token was not issued by Google.")
    if claims.get("nonce") != nonce:
        raise GoogleSignInFailed("The identity token belongs to another sign-in.")
    if not claims.get("email") or claims.get("email_verified") not in (True, "true"):
        raise GoogleSignInFailed("Google has not verified this account's email address.")
    return claims
