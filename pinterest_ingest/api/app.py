"""create_app: wires the config, the producer, the metrics, the routes and the middlewares."""

from __future__ import annotations

import logging
import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pinterest_ingest.api.config import ApiConfig, ApiConfigError
from pinterest_ingest.api.errors import error_response
from pinterest_ingest.api.fastpath import IngestFastPath
from pinterest_ingest.api.metrics import build_metrics
from pinterest_ingest.api.routes_ingest import IngestHandlers, add_ingest_routes
from pinterest_ingest.api.routes_ops import add_ops_routes
from pinterest_ingest.api.security import Auth, AuthGuard, add_bearer_scheme
from pinterest_ingest.producer import AsyncProducer

log = logging.getLogger(__name__)

DOCS_URL, REDOC_URL, OPENAPI_URL = "/docs", "/redoc", "/openapi.json"


def create_app(config: ApiConfig | None = None) -> FastAPI:
    """Build the API. Reads the environment here (not at import) when no config is given."""
    config = config or ApiConfig.from_env()
    producer = AsyncProducer(config.bootstrap_servers, ack_timeout=config.ack_timeout,
                             linger_ms=config.linger_ms, max_pending=config.max_pending,
                             security=config.kafka_security)
    metrics = build_metrics(producer)
    auth = Auth(config.api_key)
    handlers = IngestHandlers(config, producer, metrics, auth)

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
        lifespan=lifespan, docs_url=DOCS_URL, redoc_url=REDOC_URL, openapi_url=OPENAPI_URL,
    )
    app.state.producer = producer
    app.state.config = config

    add_ingest_routes(app, handlers)
    add_ops_routes(app, producer, metrics, config, auth.enabled)
    _add_exception_handlers(app, handlers.retry_headers)
    if auth.enabled:
        add_bearer_scheme(app)
        app.add_middleware(AuthGuard, auth=auth,
                           paths={DOCS_URL, DOCS_URL + "/oauth2-redirect", REDOC_URL, OPENAPI_URL, "/readyz"})
    if config.fast_path:  # added last: the outermost layer, so the hot path skips everything else
        app.add_middleware(IngestFastPath, routes=handlers.fast_routes(), retry_headers=handlers.retry_headers)
    return app


def _add_exception_handlers(app: FastAPI, retry_headers: dict) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code >= 500:
            return error_response(503, "unavailable", str(exc.detail), headers=retry_headers)
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_request", "the request is invalid",
                              [{"field": ".".join(map(str, e.get("loc", ()))), "problem": e.get("msg", "")}
                               for e in exc.errors()])

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        # Never a 500: an unexpected failure means the record was not confirmed, so ask for a retry.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(503, "unexpected_error",
                              f"the record was not produced ({type(exc).__name__}); retry later",
                              headers=retry_headers)


def app_from_env() -> FastAPI:
    """uvicorn factory: `uvicorn --factory pinterest_ingest.api:app_from_env`."""
    try:
        return create_app()
    except ApiConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
