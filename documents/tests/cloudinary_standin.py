"""A local stand-in for Cloudinary's Upload API, over real HTTP (pytest-httpserver).

Speaks what ``CloudinaryStorage`` uses: ``POST /v1_1/<cloud>/<type>/upload`` (multipart,
signed), ``GET /v1_1/<cloud>/<type>/download`` (signed, ``expires_at``) and
``POST /v1_1/<cloud>/<type>/destroy``. Signatures are checked the way Cloudinary documents
them (SHA-1 of the sorted ``key=value`` pairs joined by ``&`` plus the API secret), so a
wrong secret or an expired link is refused as the real service would.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from urllib.parse import quote

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def _signature(params: dict[str, str], secret: str) -> str:
    pairs = []
    for key in sorted(params):
        value = params[key]
        if value:
            # signature_version 2: "&" inside a value is escaped so it cannot smuggle a pair
            pairs.append(f"{key}={value}".replace("&", quote("&")))
    return hashlib.sha1(("&".join(pairs) + secret).encode()).hexdigest()


class CloudinaryStandIn:
    def __init__(self, *, cloud_name: str, api_key: str, api_secret: str) -> None:
        self.cloud_name, self.api_key, self.api_secret = cloud_name, api_key, api_secret
        self.files: dict[tuple[str, str], bytes] = {}  # (delivery type, public_id) -> bytes
        self.requests: list[tuple[str, str]] = []
        self.server = HTTPServer(host="127.0.0.1", port=0)

    @property
    def upload_prefix(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def start(self) -> CloudinaryStandIn:
        self.server.start()
        base = re.compile(rf"^/v1_1/{re.escape(self.cloud_name)}/(image|raw|video|auto)/(upload|download|destroy)$")
        self.server.expect_request(base).respond_with_handler(self._handle)
        return self

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()

    def _error(self, status: int, message: str) -> Response:
        return Response(json.dumps({"error": {"message": message}}), status=status, content_type="application/json")

    def _verified(self, params: dict[str, str]) -> str | None:
        if params.get("api_key") != self.api_key:
            return "Invalid api_key"
        signed = {k: v for k, v in params.items() if k not in ("signature", "api_key", "file", "resource_type")}
        if params.get("signature") != _signature(signed, self.api_secret):
            return "Invalid Signature"
        if abs(time.time() - int(params.get("timestamp") or 0)) > 3600:
            return "Stale request"
        return None

    def _handle(self, request: Request) -> Response:
        action = request.path.rsplit("/", 1)[-1]
        self.requests.append((request.method, action))
        if action == "download":
            params = dict(request.args)
            problem = self._verified(params)
            if problem:
                return self._error(401, problem)
            if int(params.get("expires_at") or 0) < time.time():
                return self._error(401, "Link expired")
            data = self.files.get((params.get("type") or "upload", params["public_id"]))
            if data is None:
                return self._error(404, "Resource not found")
            return Response(data, content_type="application/octet-stream")
        params = dict(request.form)
        problem = self._verified(params)
        if problem:
            return self._error(401, problem)
        key = (params.get("type") or "upload", params.get("public_id") or "")
        if action == "destroy":
            found = self.files.pop(key, None) is not None
            return Response(json.dumps({"result": "ok" if found else "not found"}), content_type="application/json")
        upload = request.files.get("file")
        if upload is None or not key[1]:
            return self._error(400, "Missing file or public_id")
        if key in self.files and params.get("overwrite") in ("0", "false"):
            return Response(json.dumps({"public_id": key[1], "existing": True}), content_type="application/json")
        self.files[key] = upload.read()
        return Response(
            json.dumps({"public_id": key[1], "type": key[0], "bytes": len(self.files[key]), "resource_type": "raw"}),
            content_type="application/json",
        )
