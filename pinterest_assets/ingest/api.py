"""The ingestion API: raw Pinterest records over HTTP, produced to Kafka with acks=all.

    POST /pin/  /geo/  /user/        one raw record (a JSON object), with or without the slash
    POST /{entity}/batch             a JSON array of up to 10,000 records, validated all first
    GET  /healthz  /readyz  /metrics

Validation is structural only (a JSON object with its key); dirty values and unknown fields pass
through unchanged, because cleaning is the pipeline's job. 202 means the broker acknowledged the
record; 503 + Retry-After means it did not within the bound (retry); never a 500.

Bodies are read and parsed by hand rather than through pydantic models: the raw record must
reach Kafka exactly as posted (unknown fields included), and this keeps the hot path cheap. The
OpenAPI document still describes the real request bodies and every response.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pinterest_assets.ingest.producer import AsyncProducer, ProduceUnavailable, RecordTooLarge
from pinterest_assets.settings import TOPICS

log = logging.getLogger(__name__)

MIB = 1024 * 1024
KEY_FIELDS = {"pin": ("unique_id", "index"), "geo": ("ind",), "user": ("ind",)}
PARTITION_KEY = {"pin": "unique_id", "geo": "ind", "user": "ind"}
INTEGER_LIKE = re.compile(r"[ \t]*[+-]?[0-9]+[ \t]*")


@dataclass
class ApiConfig:
    """Everything the API reads from the environment, read once when the app is built."""

    bootstrap_servers: str = "127.0.0.1:9092"
    ack_timeout: float = 5.0          # PINTEREST_API_ACK_TIMEOUT: seconds to wait for Kafka's ack
    api_key: str | None = None        # PINTEREST_API_KEY: when set, Bearer auth on the POSTs
    linger_ms: int = 5                # PINTEREST_API_LINGER_MS
    retry_after: int = 1              # seconds, in 503 responses
    max_body_bytes: int = MIB         # one record
    max_batch_body_bytes: int = 32 * MIB
    max_batch_records: int = 10_000
    max_pending: int = 200_000        # records awaiting acks before new ones get 503
    fast_path: bool = True            # serve the POSTs from plain ASGI (see IngestFastPath)

    @classmethod
    def from_env(cls) -> ApiConfig:
        from pinterest_assets.settings import get_settings

        env = os.environ
        return cls(
            bootstrap_servers=get_settings().kafka_bootstrap_servers,
            ack_timeout=float(env.get("PINTEREST_API_ACK_TIMEOUT", 5.0)),
            api_key=env.get("PINTEREST_API_KEY") or None,
            linger_ms=int(env.get("PINTEREST_API_LINGER_MS", 5)),
        )


class ApiError(Exception):
    """An error answer: status, machine-readable reason, human detail, optional field errors."""

    def __init__(self, status: int, reason: str, detail: str, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail
        self.errors, self.headers = errors, headers


Reply = tuple  # (status, JSON body bytes, extra headers or None)


def _error_reply(status: int, reason: str, detail: str, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> Reply:
    body = {"error": reason, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return status, json.dumps(body, ensure_ascii=False).encode("utf-8"), headers


def _to_response(reply: Reply) -> Response:
    status, body, headers = reply
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error_response(*args, **kwargs) -> Response:
    return _to_response(_error_reply(*args, **kwargs))


# ---------------------------------------------------------------------------------- validation
def _integer_problem(value) -> str | None:
    """None when `value` is an integer (JSON Schema sense) or an integer-like string."""
    if isinstance(value, bool):
        return "must be an integer or an integer-like string, not a boolean"
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) and value.is_integer() else "must be a whole number"
    if isinstance(value, str):
        return None if INTEGER_LIKE.fullmatch(value) else "must be an integer-like string such as \"42\""
    return f"must be an integer or an integer-like string, not {_json_type(value)}"


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number")


def record_problems(entity: str, record) -> list[dict]:
    """Structural problems of one raw record: [{"field", "problem"}]; empty when it is acceptable."""
    if not isinstance(record, dict):
        return [{"field": None, "problem": f"a {entity} record must be a JSON object, not {_json_type(record)}"}]
    problems = []
    for name in KEY_FIELDS[entity]:
        if name not in record:
            problems.append({"field": name, "problem": "missing"})
            continue
        value = record[name]
        if name == "unique_id":
            if not isinstance(value, str) or not value:
                problems.append({"field": name, "problem": "must be a non-empty string"})
        else:
            problem = _integer_problem(value)
            if problem:
                problems.append({"field": name, "problem": problem})
    return problems


def partition_key(entity: str, record: dict) -> bytes:
    """Kafka key: `unique_id` as posted (pin) or `ind` normalised to its integer text (geo/user)."""
    value = record[PARTITION_KEY[entity]]
    if entity == "pin":
        return value.encode("utf-8")
    return str(int(value.strip() if isinstance(value, str) else value)).encode("ascii")


def serialise(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes):
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(422, "too_deep", "the JSON document is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ApiError(415, "not_json", f"the body is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------------- OpenAPI
_INTEGER_LIKE_SCHEMA = {"anyOf": [{"type": "integer"},
                                  {"type": "string", "pattern": "^[ \\t]*[+-]?[0-9]+[ \\t]*$"}]}
_ANY = {"description": "raw value, passed through unchanged"}
RECORD_SCHEMAS = {
    "pin": {
        "title": "RawPin", "type": "object", "required": ["unique_id", "index"],
        "description": "A raw pin record as scraped: only the keys are checked; every other field "
                       "(known or not) is passed through unchanged.",
        "properties": {
            "unique_id": {"type": "string", "minLength": 1, "description": "Kafka key"},
            "index": _INTEGER_LIKE_SCHEMA,
            **{name: _ANY for name in ("title", "description", "poster_name", "follower_count",
                                       "tag_list", "is_image_or_video", "image_src", "downloaded",
                                       "save_location", "category")},
        },
        "additionalProperties": True,
    },
    "geo": {
        "title": "RawGeo", "type": "object", "required": ["ind"],
        "description": "A raw geolocation record; `ind` (the Kafka key) is checked, the rest passes through.",
        "properties": {"ind": _INTEGER_LIKE_SCHEMA,
                       **{n: _ANY for n in ("timestamp", "latitude", "longitude", "country")}},
        "additionalProperties": True,
    },
    "user": {
        "title": "RawUser", "type": "object", "required": ["ind"],
        "description": "A raw user record; `ind` (the Kafka key) is checked, the rest passes through.",
        "properties": {"ind": _INTEGER_LIKE_SCHEMA,
                       **{n: _ANY for n in ("first_name", "last_name", "age", "date_joined")}},
        "additionalProperties": True,
    },
}
_ERROR_SCHEMA = {
    "type": "object", "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable reason"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer", "description": "position in the batch"},
            "field": {"type": ["string", "null"]},
            "problem": {"type": "string"}}}},
    },
}
_ACK_SCHEMA = {
    "type": "object", "required": ["topic", "key", "partition", "offset"],
    "properties": {"topic": {"type": "string"}, "key": {"type": "string"},
                   "partition": {"type": "integer"}, "offset": {"type": "integer"}},
}
_BATCH_ACK_SCHEMA = {
    "type": "object", "required": ["topic", "accepted", "records"],
    "properties": {"topic": {"type": "string"}, "accepted": {"type": "integer"},
                   "records": {"type": "array", "items": {
                       "type": "object", "required": ["key", "partition", "offset"],
                       "properties": {"key": {"type": "string"}, "partition": {"type": "integer"},
                                      "offset": {"type": "integer"}}}}},
}


def _json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _error(description: str, headers: dict | None = None) -> dict:
    out = {"description": description, "content": _json_content(_ERROR_SCHEMA)}
    if headers:
        out["headers"] = headers
    return out


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                                "schema": {"type": "string"}}}


def _post_openapi(entity: str, batch: bool, auth: bool) -> dict:
    schema = RECORD_SCHEMAS[entity]
    body = ({"type": "array", "items": schema, "minItems": 1, "maxItems": 10_000} if batch else schema)
    responses = {
        "202": {"description": "acknowledged by Kafka (acks=all)",
                "content": _json_content(_BATCH_ACK_SCHEMA if batch else _ACK_SCHEMA)},
        "413": _error("body over the size limit (1 MiB a record" + (", 32 MiB a batch)" if batch else ")")),
        "415": _error("the body is not JSON (wrong Content-Type or unparseable)"),
        "422": _error("structurally invalid record(s): the field(s) at fault are named"
                      + (" (with their index); also an empty batch or over 10,000 records" if batch else "")),
        "503": _error("Kafka did not acknowledge in time; retry after Retry-After", _RETRY_AFTER),
    }
    if auth:
        responses["401"] = _error("missing or wrong bearer token")
    extra = {"requestBody": {"required": True, "content": _json_content(body)}, "responses": responses}
    if auth:
        extra["security"] = [{"bearer": []}]
    return extra


# ---------------------------------------------------------------------------------- the app
@dataclass
class _Metrics:
    registry: object
    accepted: object
    rejected: object
    latency: object
    accepted_children: dict = field(default_factory=dict)
    latency_children: dict = field(default_factory=dict)


def _build_metrics() -> _Metrics:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry(auto_describe=True)
    metrics = _Metrics(
        registry=registry,
        accepted=Counter("pinterest_api_records_accepted", "Records acknowledged by Kafka",
                         ["topic"], registry=registry),
        rejected=Counter("pinterest_api_records_rejected", "Records refused, by HTTP status and reason",
                         ["topic", "status", "reason"], registry=registry),
        latency=Histogram("pinterest_api_produce_latency_seconds",
                          "Time from send to Kafka acknowledgement, per request", ["topic"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                          registry=registry),
    )
    for topic in TOPICS.values():  # pre-bound children: label lookup is off the hot path
        metrics.accepted_children[topic] = metrics.accepted.labels(topic)
        metrics.latency_children[topic] = metrics.latency.labels(topic)
    return metrics


def create_app(config: ApiConfig | None = None) -> FastAPI:
    """Build the API. Reads the environment here (not at import) when no config is given."""
    config = config or ApiConfig.from_env()
    producer = AsyncProducer(config.bootstrap_servers, ack_timeout=config.ack_timeout,
                             linger_ms=config.linger_ms, max_pending=config.max_pending)
    metrics = _build_metrics()
    retry_headers = {"Retry-After": str(config.retry_after)}
    expected_auth = f"Bearer {config.api_key}".encode() if config.api_key else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        producer.start()
        try:
            yield
        finally:
            producer.close(timeout=max(5.0, config.ack_timeout))

    app = FastAPI(
        title="pinterest-pipeline ingestion API",
        version="1.0.0",
        description="Raw Pinterest-style records in, Kafka (acks=all) out. 202 only after the broker "
                    "acknowledged; 503 + Retry-After when it did not within the bound.",
        lifespan=lifespan,
    )
    app.state.producer = producer
    app.state.config = config

    def reject(topic: str, error: ApiError, count: int = 1) -> None:
        metrics.rejected.labels(topic, str(error.status), error.reason).inc(count)

    def check_auth(headers) -> None:
        if expected_auth is None:
            return
        given = headers.get("authorization", "").encode("utf-8", "surrogateescape")
        if not secrets.compare_digest(given, expected_auth):
            raise ApiError(401, "unauthorized", "send `Authorization: Bearer <PINTEREST_API_KEY>`",
                           headers={"WWW-Authenticate": "Bearer"})

    async def read_json(headers, body_stream, limit: int):
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise ApiError(415, "not_json",
                           f"Content-Type must be application/json, got {content_type or 'nothing'!r}")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "too_large", f"the body is {int(declared)} bytes; the limit is {limit}")
        chunks, size = [], 0
        async for chunk in body_stream:
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"the body is over the {limit}-byte limit")
            chunks.append(chunk)
        return parse_json(b"".join(chunks))

    def encode(entity: str, record: dict) -> tuple[bytes, bytes]:
        try:
            return partition_key(entity, record), serialise(record)
        except UnicodeEncodeError as exc:
            raise ApiError(422, "invalid_text", f"the record holds text that is not valid Unicode "
                                                 f"(an unpaired surrogate?): {exc.reason}") from None
        except ValueError as exc:  # e.g. an integer with more digits than Python converts
            raise ApiError(422, "invalid_record", str(exc)) from None

    async def post_one(entity: str, headers, body_stream) -> Reply:
        topic = TOPICS[entity]
        try:
            check_auth(headers)
            record = await read_json(headers, body_stream, config.max_body_bytes)
            problems = record_problems(entity, record)
            if problems:
                fields = ", ".join(p["field"] or "body" for p in problems)
                raise ApiError(422, "invalid_record", f"invalid {entity} record: {fields}", problems)
            key, value = encode(entity, record)
            started = time.perf_counter()
            ack = await producer.produce(topic, key, value)
        except ApiError as exc:
            reject(topic, exc)
            return _error_reply(exc.status, exc.reason, exc.detail, exc.errors, exc.headers)
        except RecordTooLarge as exc:
            reject(topic, ApiError(413, "too_large", ""))
            return _error_reply(413, "too_large", f"the record is too large for Kafka: {exc}")
        except ProduceUnavailable as exc:
            reject(topic, ApiError(503, "kafka_unavailable", ""))
            return _error_reply(503, "kafka_unavailable", str(exc), headers=retry_headers)
        metrics.latency_children[topic].observe(time.perf_counter() - started)
        metrics.accepted_children[topic].inc()
        return (202, b'{"topic":"%s","key":%s,"partition":%d,"offset":%d}'
                % (topic.encode(), json.dumps(key.decode("utf-8"), ensure_ascii=False).encode("utf-8"),
                   ack.partition, ack.offset), None)

    async def post_batch(entity: str, headers, body_stream) -> Reply:
        topic = TOPICS[entity]
        count = 1
        try:
            check_auth(headers)
            records = await read_json(headers, body_stream, config.max_batch_body_bytes)
            if not isinstance(records, list):
                raise ApiError(422, "invalid_batch",
                               f"a batch must be a JSON array of {entity} records, not {_json_type(records)}")
            count = max(1, len(records))
            if not records:
                raise ApiError(422, "invalid_batch", "the batch is empty")
            if len(records) > config.max_batch_records:
                # 422 rather than 413: the body is a schema violation (maxItems), not an oversize upload
                raise ApiError(422, "too_many_records",
                               f"{len(records)} records; a batch holds at most {config.max_batch_records}")
            errors = [{"index": i, **p} for i, r in enumerate(records) for p in record_problems(entity, r)]
            if errors:
                where = sorted({e["index"] for e in errors})
                shown = ", ".join(map(str, where[:20])) + (", …" if len(where) > 20 else "")
                raise ApiError(422, "invalid_record",
                               f"{len(where)} invalid {entity} record(s) at index {shown}; nothing was produced",
                               errors[:1000])
            encoded = []
            for i, record in enumerate(records):
                try:
                    key, value = encode(entity, record)
                except ApiError as exc:
                    raise ApiError(exc.status, exc.reason, f"record {i}: {exc.detail}; nothing was produced",
                                   [{"index": i, "field": None, "problem": exc.detail}]) from None
                if len(value) > config.max_body_bytes:
                    raise ApiError(413, "too_large", f"record {i} is {len(value)} bytes; the limit is "
                                                     f"{config.max_body_bytes}; nothing was produced")
                encoded.append((key, value))
            started = time.perf_counter()
            acks = await producer.produce_many(topic, encoded)
        except ApiError as exc:
            reject(topic, exc, count)
            return _error_reply(exc.status, exc.reason, exc.detail, exc.errors, exc.headers)
        except RecordTooLarge as exc:
            reject(topic, ApiError(413, "too_large", ""), count)
            return _error_reply(413, "too_large", f"a record is too large for Kafka: {exc}")
        except ProduceUnavailable as exc:
            reject(topic, ApiError(503, "kafka_unavailable", ""), count)
            return _error_reply(503, "kafka_unavailable",
                                   f"{exc}; some records may have been written: retry the whole batch "
                                   "(duplicates are tolerated downstream)", headers=retry_headers)
        metrics.latency_children[topic].observe(time.perf_counter() - started)
        metrics.accepted_children[topic].inc(len(acks))
        body = {"topic": topic, "accepted": len(acks),
                "records": [{"key": k.decode("utf-8"), "partition": a.partition, "offset": a.offset}
                            for (k, _), a in zip(encoded, acks)]}
        return 202, json.dumps(body, ensure_ascii=False).encode("utf-8"), None

    auth = expected_auth is not None
    for entity in TOPICS:
        one = _make_endpoint(post_one, entity)
        many = _make_endpoint(post_batch, entity)
        tags = [entity]
        app.add_api_route(f"/{entity}/", one, methods=["POST"], status_code=202, tags=tags,
                          summary=f"Post one raw {entity} record", operation_id=f"post_{entity}",
                          openapi_extra=_post_openapi(entity, False, auth))
        app.add_api_route(f"/{entity}", one, methods=["POST"], status_code=202, include_in_schema=False)
        app.add_api_route(f"/{entity}/batch", many, methods=["POST"], status_code=202, tags=tags,
                          summary=f"Post up to 10,000 raw {entity} records, validated all first",
                          operation_id=f"post_{entity}_batch",
                          openapi_extra=_post_openapi(entity, True, auth))

    @app.get("/healthz", tags=["ops"], summary="The process is up",
             responses={200: {"content": _json_content({"type": "object"})}})
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Kafka is reachable",
             responses={200: {"content": _json_content({"type": "object"})},
                        503: _error("Kafka is not reachable", _RETRY_AFTER)})
    async def readyz():
        ok, detail = await producer.reachable()
        if ok:
            return {"status": "ready", "kafka": config.bootstrap_servers, "pending": producer.pending}
        return _error_response(503, "kafka_unavailable", detail, headers=retry_headers)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics",
             response_class=Response,
             responses={200: {"description": "Prometheus text exposition format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus_metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code >= 500:
            return _error_response(503, "unavailable", str(exc.detail), headers=retry_headers)
        return _error_response(exc.status_code, "http_error", str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return _error_response(422, "invalid_request", "the request is invalid",
                               [{"field": ".".join(map(str, e.get("loc", ()))), "problem": e.get("msg", "")}
                                for e in exc.errors()])

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        # Never a 500: an unexpected failure means the record was not confirmed, so ask for a retry.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error_response(503, "unexpected_error",
                               f"the record was not produced ({type(exc).__name__}); retry later",
                               headers=retry_headers)

    if auth:
        _add_bearer_scheme(app)
    if config.fast_path:
        fast_routes = {}
        for entity in TOPICS:
            fast_routes[f"/{entity}/"] = fast_routes[f"/{entity}"] = (post_one, entity)
            fast_routes[f"/{entity}/batch"] = (post_batch, entity)
        app.add_middleware(IngestFastPath, routes=fast_routes, retry_headers=retry_headers)
    return app


class IngestFastPath:
    """Serves the POST endpoints straight from ASGI, skipping Starlette routing and FastAPI's
    dependency machinery (about a third of the per-request CPU on the hot path).

    The handlers are the very ones behind the FastAPI routes (which document them in OpenAPI and
    serve them when `fast_path` is off), so behaviour is identical either way.
    """

    def __init__(self, app, routes: dict, retry_headers: dict):
        self.app, self.routes = app, routes
        self.retry_headers = [(k.lower().encode(), v.encode()) for k, v in retry_headers.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.routes:
            return await self.app(scope, receive, send)
        from starlette.datastructures import Headers

        handler, entity = self.routes[scope["path"]]
        try:
            status, body, headers = await handler(entity, Headers(scope=scope), _body_stream(receive))
        except _ClientGone:
            return
        except Exception as exc:  # never a 500 (same as the app's exception handler)
            log.exception("unexpected error on POST %s", scope["path"])
            status, body, headers = _error_reply(
                503, "unexpected_error", f"the record was not produced ({type(exc).__name__}); retry later")
            headers = dict((k.decode(), v.decode()) for k, v in self.retry_headers)
        raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if headers:
            raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


class _ClientGone(Exception):
    pass


async def _body_stream(receive):
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _make_endpoint(handler, entity: str):
    async def endpoint(request: Request) -> Response:
        return _to_response(await handler(entity, request.headers, request.stream()))

    endpoint.__name__ = f"{handler.__name__}_{entity}"
    return endpoint


def _add_bearer_scheme(app: FastAPI) -> None:
    original = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http", "scheme": "bearer"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def app_from_env() -> FastAPI:
    """uvicorn factory: `uvicorn --factory pinterest_assets.ingest.api:app_from_env`."""
    return create_app()
