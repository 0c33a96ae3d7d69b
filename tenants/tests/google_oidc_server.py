"""A local server speaking Google's OAuth 2.0 / OpenID Connect wire format, for tests.

- ``GET /o/oauth2/v2/auth``: the consent screen, answered at once as the account a test chose
  (``sign_in_as``): a 302 to ``redirect_uri`` with ``code`` and ``state`` (or
  ``error=access_denied`` when ``deny`` is set);
- ``POST /token``: a form-encoded code exchange, checked like Google does (client id and
  secret, the same redirect_uri, a code used once) → JSON with an RS256-signed ``id_token``;
- ``GET /oauth2/v3/certs``: the JWKS holding the signing key's public half.

Point ``GOOGLE_ACCOUNTS_URL``, ``GOOGLE_OAUTH2_TOKEN_URL`` and ``GOOGLE_OAUTH2_CERTS_URL``
at ``settings_overrides()``.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ISSUER = "https://accounts.google.com"


class GoogleOIDCServer:
    def __init__(self, *, client_id: str = "test-client.apps.googleusercontent.com", client_secret: str = "s3cret"):
        self.client_id, self.client_secret = client_id, client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self.server = HTTPServer(host="127.0.0.1", port=0)
        self.email = "owner@example.com"
        self.email_verified = True
        self.deny = False
        # Overrides a test sets to forge a bad token: {"aud": ..., "iss": ..., "nonce": ...}.
        self.claim_overrides: dict = {}
        self.sign_with = None  # another private key, to forge a signature
        self._codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []

    def start(self) -> GoogleOIDCServer:
        self.server.start()
        self.server.expect_request("/o/oauth2/v2/auth", method="GET").respond_with_handler(self._authorize)
        self.server.expect_request("/token", method="POST").respond_with_handler(self._token)
        self.server.expect_request("/oauth2/v3/certs", method="GET").respond_with_handler(self._certs)
        return self

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def settings_overrides(self) -> dict:
        return {
            "GOOGLE_OAUTH_CLIENT_ID": self.client_id,
            "GOOGLE_OAUTH_CLIENT_SECRET": self.client_secret,
            "GOOGLE_ACCOUNTS_URL": self.base_url,
            "GOOGLE_OAUTH2_TOKEN_URL": f"{self.base_url}/token",
            "GOOGLE_OAUTH2_CERTS_URL": f"{self.base_url}/oauth2/v3/certs",
        }

    def sign_in_as(self, email: str, *, verified: bool = True) -> None:
        self.email, self.email_verified = email, verified

    # --- handlers ------------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != self.client_id or args.get("response_type") != "code" or not redirect_uri:
            return Response("invalid_request", status=400)
        if "openid" not in args.get("scope", "").split():
            return Response("invalid_scope", status=400)
        if self.deny:
            query = {"error": "access_denied", "state": args.get("state", "")}
        else:
            code = "4/" + secrets.token_urlsafe(24)
            self._codes[code] = {
                "redirect_uri": redirect_uri,
                "nonce": args.get("nonce"),
                "email": self.email,
                "verified": self.email_verified,
            }
            query = {"code": code, "state": args.get("state", ""), "scope": "openid email profile"}
        return Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode(query)}"})

    def _error(self, error: str, description: str, status: int = 400) -> Response:
        body = json.dumps({"error": error, "error_description": description})
        return Response(body, status=status, content_type="application/json")

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        self.token_requests.append(form)
        if form.get("grant_type") != "authorization_code":
            return self._error("unsupported_grant_type", "Invalid grant_type")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return self._error("invalid_client", "The OAuth client was not found.", 401)
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None:
            return self._error("invalid_grant", "Malformed auth code.")
        if grant["redirect_uri"] != form.get("redirect_uri"):
            return self._error("redirect_uri_mismatch", "Bad Request")
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "azp": self.client_id,
            "aud": self.client_id,
            "sub": str(abs(hash(grant["email"])) % 10**20),
            "email": grant["email"],
            "email_verified": grant["verified"],
            "nonce": grant["nonce"],
            "iat": now,
            "exp": now + 3600,
            **self.claim_overrides,
        }
        id_token = jwt.encode(claims, self.sign_with or self.key, algorithm="RS256", headers={"kid": self.kid})
        body = {
            "access_token": "ya29." + secrets.token_urlsafe(32),
            "expires_in": 3599,
            "scope": "openid https://www.googleapis.com/auth/userinfo.email",
            "token_type": "Bearer",
            "id_token": id_token,
        }
        return Response(json.dumps(body), content_type="application/json")

    def _certs(self, request: Request) -> Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return Response(json.dumps({"keys": [jwk]}), content_type="application/json")
