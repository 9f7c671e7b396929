"""The ingestion API: raw Pinterest records over HTTP, produced to Kafka with acks=all.

Invariant: 202 means the broker acknowledged the record; bad input is a 4xx naming where, a
missing topic or an unacknowledged record a 503 with Retry-After; never a 500. Validation is
structural only (cleaning is the pipeline's job). Endpoints and modules: README, "Ingestion API".
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
