"""The ingestion API: raw Pinterest records over HTTP, produced to Kafka with acks=all.

    POST /pin/  /geo/  /user/        one raw record (a JSON object), with or without the slash
    POST /{entity}/batch             a JSON array of up to 10,000 records, validated all first
    GET  /healthz  /readyz  /metrics  /docs  /openapi.json

Validation is structural only (a JSON object with its key); dirty values and unknown fields pass
through unchanged, because cleaning is the pipeline's job. 202 means the broker acknowledged the
record; 503 + Retry-After means it did not within the bound (retry), or that the entity's topic is
missing; never a 500. A wrong media type is 415; a body that is not JSON, nested deeper than 32
levels or holding text that is not valid Unicode is 422, naming where.

Modules:
    config.py         ApiConfig: every PINTEREST_API_* variable, validated once
    app.py            create_app: wiring (producer, metrics, routes, middlewares, error handlers)
    routes_ingest.py  the POST handlers and their FastAPI routes
    routes_ops.py     /healthz, /readyz, /metrics
    records.py        parsing, structural validation, Kafka key and value
    schemas.py        the OpenAPI schemas (records from the entity registry, answers)
    security.py       PINTEREST_API_KEY: bearer auth and the docs/readyz guard
    fastpath.py       IngestFastPath: the POSTs from plain ASGI
    metrics.py        Prometheus metrics
    errors.py         ApiError and the one error body
"""

from pinterest_ingest.api.app import app_from_env, create_app
from pinterest_ingest.api.config import ApiConfig, ApiConfigError
from pinterest_ingest.api.errors import ApiError
from pinterest_ingest.api.fastpath import IngestFastPath
from pinterest_ingest.api.records import encode, parse_json, partition_key, record_problems, serialise
from pinterest_ingest.api.schemas import RECORD_SCHEMAS, record_schema

__all__ = ["ApiConfig", "ApiConfigError", "ApiError", "IngestFastPath", "RECORD_SCHEMAS", "app_from_env",
           "create_app", "encode", "parse_json", "partition_key", "record_problems", "record_schema",
           "serialise"]
