"""Error answers: one JSON shape for every 4xx/503 the API gives, `{"error", "detail", "errors"?}`."""

from __future__ import annotations

import json

from fastapi.responses import Response


class ApiError(Exception):
    """An error answer: status, machine-readable reason, human detail, optional field errors."""

    def __init__(self, status: int, reason: str, detail: str, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail
        self.errors, self.headers = errors, headers


Reply = tuple  # (status, JSON body bytes, extra headers or None)


def error_reply(status: int, reason: str, detail: str, errors: list[dict] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
    body = {"error": reason, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    # backslashreplace: a lone surrogate from the request, echoed in a message, becomes a JSON
    # escape (\ud800) instead of failing the answer
    return status, json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace"), headers


def api_error_reply(exc: ApiError) -> Reply:
    return error_reply(exc.status, exc.reason, exc.detail, exc.errors, exc.headers)


def to_response(reply: Reply) -> Response:
    status, body, headers = reply
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(*args, **kwargs) -> Response:
    return to_response(error_reply(*args, **kwargs))
