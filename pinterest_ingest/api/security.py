"""PINTEREST_API_KEY: when set, every POST needs `Authorization: Bearer <key>`, and so do the
API's description (/docs, /redoc, /openapi.json) and /readyz (it names the Kafka address).

The description pages also take HTTP Basic with the key as the password (any user name), so a
browser can open /docs: it asks for the credentials and sends them on to /openapi.json.
/healthz and /metrics stay open for probes and scrapers; /metrics carries no address.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets

from pinterest_ingest.api.errors import ApiError

REALM = "pinterest ingestion API"
_DETAIL = "send `Authorization: Bearer <PINTEREST_API_KEY>`"


class Auth:
    def __init__(self, api_key: str | None):
        self.enabled = bool(api_key)
        self._key = api_key.encode() if api_key else b""
        self._bearer = b"Bearer " + self._key if api_key else None

    def check(self, headers) -> None:
        """POSTs: Bearer only (raises ApiError 401)."""
        if self._bearer is None:
            return
        given = headers.get("authorization", "").encode("utf-8", "surrogateescape")
        if not secrets.compare_digest(given, self._bearer):
            raise ApiError(401, "unauthorized", _DETAIL, headers={"WWW-Authenticate": "Bearer"})

    def allows(self, authorization: bytes) -> bool:
        """Bearer <key>, or Basic with <key> as the password."""
        if self._bearer is None:
            return True
        if secrets.compare_digest(authorization, self._bearer):
            return True
        scheme, _, credentials = authorization.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return secrets.compare_digest(decoded.partition(b":")[2], self._key)


class AuthGuard:
    """ASGI middleware: the protected GET paths answer 401 without the key."""

    def __init__(self, app, auth: Auth, paths: set[str]):
        self.app, self.auth, self.paths = app, auth, paths
        self.body = json.dumps({"error": "unauthorized",
                                "detail": _DETAIL + " (or HTTP Basic with the key as the password)"}).encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if self.auth.allows(authorization):
            return await self.app(scope, receive, send)
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode()),
            (b"www-authenticate", b"Bearer"),
            (b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode())]})
        await send({"type": "http.response.body", "body": self.body})


def add_bearer_scheme(app) -> None:
    original = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http", "scheme": "bearer"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
