"""IngestFastPath: the POST endpoints served straight from ASGI."""

from __future__ import annotations

import logging

from pinterest_ingest.api.errors import error_reply

log = logging.getLogger(__name__)


class IngestFastPath:
    """Serves the POST endpoints straight from ASGI, skipping Starlette routing and FastAPI's
    dependency machinery (about a third of the per-request CPU on the hot path).

    The handlers are the very ones behind the FastAPI routes (which document them in OpenAPI and
    serve them when `fast_path` is off), so behaviour is identical either way.
    """

    def __init__(self, app, routes: dict, retry_headers: dict):
        self.app, self.routes = app, routes
        self.retry_headers = dict(retry_headers)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.routes:
            return await self.app(scope, receive, send)
        from starlette.datastructures import Headers

        handler, entity = self.routes[scope["path"]]
        try:
            status, body, headers = await handler(entity, Headers(scope=scope), body_stream(receive))
        except ClientGone:
            return
        except Exception as exc:  # never a 500 (same as the app's exception handler)
            log.exception("unexpected error on POST %s", scope["path"])
            status, body, headers = error_reply(
                503, "unexpected_error", f"the record was not produced ({type(exc).__name__}); retry later",
                headers=self.retry_headers)
        raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if headers:
            raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


class ClientGone(Exception):
    pass


async def body_stream(receive):
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
