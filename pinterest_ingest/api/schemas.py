"""The OpenAPI side: JSON schemas of the raw records (from the entity registry), of the answers,
and the `openapi_extra` of each POST operation.

Bodies are read and parsed by hand rather than through pydantic models (the raw record must
reach Kafka exactly as posted, unknown fields included, and this keeps the hot path cheap); these
schemas describe the real request bodies and every response all the same.
"""

from __future__ import annotations

from pinterest_assets import entities as registry

INTEGER_LIKE_SCHEMA = {"anyOf": [{"type": "integer"},
                                 {"type": "string", "pattern": "^[ \\t]*[+-]?[0-9]+[ \\t]*$"}]}
_ANY = {"description": "raw value, passed through unchanged"}


def record_schema(entity: str) -> dict:
    """The JSON schema of one raw record of `entity`: its key fields checked, the rest passed through."""
    spec = registry.entity(entity)
    keys = {}
    for name in spec.raw_key_fields:
        if spec.key_kind == "uuid" and name == spec.partition_field:
            keys[name] = {"type": "string", "minLength": 1, "description": "Kafka key (normalised)"}
        else:
            keys[name] = {**INTEGER_LIKE_SCHEMA,
                          **({"description": "Kafka key (normalised)"} if name == spec.partition_field else {})}
    others = [n for n in spec.raw_fields if n not in keys]
    checked = ", ".join(f"`{k}`" for k in keys)
    return {
        "title": f"Raw{spec.name.capitalize()}", "type": "object", "required": list(keys),
        "description": f"A raw {spec.name} record as scraped: only {checked} "
                       f"{'is' if len(keys) == 1 else 'are'} checked; every other field (known or not) "
                       "is passed through unchanged. Nesting is limited to 32 levels.",
        "properties": {**keys, **{n: _ANY for n in others}},
        "additionalProperties": True,
    }


def record_schemas() -> dict[str, dict]:
    return {name: record_schema(name) for name in registry.names()}


RECORD_SCHEMAS = record_schemas()  # the entities registered at import (pin, geo, user)

ERROR_SCHEMA = {
    "type": "object", "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable reason"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer", "description": "position in the batch"},
            "field": {"type": ["string", "null"], "description": "the field at fault, as a.b[0].c"},
            "path": {"type": "array", "description": "the same field as a list of names and indexes"},
            "problem": {"type": "string"},
            "line": {"type": "integer", "description": "where the JSON broke (1-based)"},
            "column": {"type": "integer", "description": "where the JSON broke (1-based, in characters)"}}}},
    },
}
ACK_SCHEMA = {
    "type": "object", "required": ["topic", "key", "partition", "offset"],
    "properties": {"topic": {"type": "string"}, "key": {"type": "string"},
                   "partition": {"type": "integer"}, "offset": {"type": "integer"}},
}
BATCH_ACK_SCHEMA = {
    "type": "object", "required": ["topic", "accepted", "records"],
    "properties": {"topic": {"type": "string"}, "accepted": {"type": "integer"},
                   "records": {"type": "array", "items": {
                       "type": "object", "required": ["key", "partition", "offset"],
                       "properties": {"key": {"type": "string"}, "partition": {"type": "integer"},
                                      "offset": {"type": "integer"}}}}},
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                               "schema": {"type": "string"}}}
OBJECT = {"type": "object"}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def error(description: str, headers: dict | None = None) -> dict:
    out = {"description": description, "content": json_content(ERROR_SCHEMA)}
    if headers:
        out["headers"] = headers
    return out


def post_openapi(entity: str, batch: bool, auth: bool, max_batch_records: int = 10_000) -> dict:
    schema = record_schema(entity)
    body = ({"type": "array", "items": schema, "minItems": 1, "maxItems": max_batch_records}
            if batch else schema)
    responses = {
        "202": {"description": "acknowledged by Kafka (acks=all)",
                "content": json_content(BATCH_ACK_SCHEMA if batch else ACK_SCHEMA)},
        "413": error("body over the size limit (1 MiB a record" + (", 32 MiB a batch)" if batch else ")")),
        "415": error("wrong media type: the Content-Type is not application/json"),
        "422": error("the body is not valid JSON (the line and column are named), is nested too deeply, "
                     "holds text that is not valid Unicode, or the record is structurally invalid: "
                     "the field(s) at fault are named"
                     + (" (with their index); also an empty batch or too many records" if batch else "")),
        "503": error("Kafka did not acknowledge in time, or the entity's topic is missing; "
                     "retry after Retry-After", RETRY_AFTER),
    }
    if auth:
        responses["401"] = error("missing or wrong bearer token")
    extra = {"requestBody": {"required": True, "content": json_content(body)}, "responses": responses}
    if auth:
        extra["security"] = [{"bearer": []}]
    return extra
