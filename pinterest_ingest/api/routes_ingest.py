"""The ingest endpoints: POST /{entity}/ (one record) and POST /{entity}/batch (up to 10,000).

The handlers take (entity, headers, body chunks) and return a Reply, so the very same code serves
the FastAPI routes (documented in OpenAPI) and the plain-ASGI fast path (see fastpath.py).
"""

from __future__ import annotations

import json
import time

from fastapi import FastAPI, Request
from fastapi.responses import Response

from pinterest_assets import entities as registry
from pinterest_ingest.api.config import ApiConfig
from pinterest_ingest.api.errors import ApiError, Reply, api_error_reply, error_reply, to_response
from pinterest_ingest.api.metrics import Metrics
from pinterest_ingest.api.records import encode, json_type, parse_json, record_problems
from pinterest_ingest.api.schemas import post_openapi
from pinterest_ingest.api.security import Auth
from pinterest_ingest.producer import AsyncProducer, ProduceUnavailable, RecordTooLarge, TopicMissing


class IngestHandlers:
    def __init__(self, config: ApiConfig, producer: AsyncProducer, metrics: Metrics, auth: Auth):
        self.config, self.producer, self.metrics, self.auth = config, producer, metrics, auth
        self.retry_headers = {"Retry-After": str(config.retry_after)}

    async def read_json(self, headers, body_stream, limit: int, batch: bool = False):
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
        return parse_json(b"".join(chunks), self.config.max_depth, batch)

    def _unavailable(self, topic: str, exc: ProduceUnavailable, count: int, suffix: str = "") -> Reply:
        reason = "topic_missing" if isinstance(exc, TopicMissing) else "kafka_unavailable"
        self.metrics.reject(topic, 503, reason, count)
        return error_reply(503, reason, f"{exc}{suffix}", headers=self.retry_headers)

    async def post_one(self, entity: str, headers, body_stream) -> Reply:
        topic = registry.entity(entity).topic
        try:
            self.auth.check(headers)
            record = await self.read_json(headers, body_stream, self.config.max_body_bytes)
            problems = record_problems(entity, record)
            if problems:
                fields = ", ".join(p["field"] or "body" for p in problems)
                raise ApiError(422, "invalid_record", f"invalid {entity} record: {fields}", problems)
            key, value = encode(entity, record)
            started = time.perf_counter()
            ack = await self.producer.produce(topic, key, value)
        except ApiError as exc:
            self.metrics.reject(topic, exc.status, exc.reason)
            return api_error_reply(exc)
        except RecordTooLarge as exc:
            self.metrics.reject(topic, 413, "too_large")
            return error_reply(413, "too_large", f"the record is too large for Kafka: {exc}")
        except ProduceUnavailable as exc:
            return self._unavailable(topic, exc, 1)
        self.metrics.latency_children[topic].observe(time.perf_counter() - started)
        self.metrics.accepted_children[topic].inc()
        return (202, b'{"topic":"%s","key":%s,"partition":%d,"offset":%d}'
                % (topic.encode(), json.dumps(key.decode("utf-8"), ensure_ascii=False).encode("utf-8"),
                   ack.partition, ack.offset), None)

    async def post_batch(self, entity: str, headers, body_stream) -> Reply:
        config = self.config
        topic = registry.entity(entity).topic
        count = 1
        try:
            self.auth.check(headers)
            records = await self.read_json(headers, body_stream, config.max_batch_body_bytes, batch=True)
            if not isinstance(records, list):
                raise ApiError(422, "invalid_batch",
                               f"a batch must be a JSON array of {entity} records, not {json_type(records)}")
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
                                   [{"index": i, **e} for e in exc.errors or [{"field": None, "problem": exc.detail}]]
                                   ) from None
                if len(value) > config.max_body_bytes:
                    raise ApiError(413, "too_large", f"record {i} is {len(value)} bytes; the limit is "
                                                     f"{config.max_body_bytes}; nothing was produced")
                encoded.append((key, value))
            started = time.perf_counter()
            acks = await self.producer.produce_many(topic, encoded)
        except ApiError as exc:
            self.metrics.reject(topic, exc.status, exc.reason, count)
            return api_error_reply(exc)
        except RecordTooLarge as exc:
            self.metrics.reject(topic, 413, "too_large", count)
            return error_reply(413, "too_large", f"a record is too large for Kafka: {exc}")
        except ProduceUnavailable as exc:
            return self._unavailable(topic, exc, count, "; some records may have been written: retry the whole "
                                                        "batch (duplicates are tolerated downstream)")
        self.metrics.latency_children[topic].observe(time.perf_counter() - started)
        self.metrics.accepted_children[topic].inc(len(acks))
        body = {"topic": topic, "accepted": len(acks),
                "records": [{"key": k.decode("utf-8"), "partition": a.partition, "offset": a.offset}
                            for (k, _), a in zip(encoded, acks)]}
        return 202, json.dumps(body, ensure_ascii=False).encode("utf-8"), None

    def fast_routes(self) -> dict:
        """path -> (handler, entity), for IngestFastPath."""
        routes = {}
        for entity in registry.names():
            routes[f"/{entity}/"] = routes[f"/{entity}"] = (self.post_one, entity)
            routes[f"/{entity}/batch"] = (self.post_batch, entity)
        return routes


def _make_endpoint(handler, entity: str):
    async def endpoint(request: Request) -> Response:
        return to_response(await handler(entity, request.headers, request.stream()))

    endpoint.__name__ = f"{handler.__name__}_{entity}"
    return endpoint


def add_ingest_routes(app: FastAPI, handlers: IngestHandlers) -> None:
    auth = handlers.auth.enabled
    limit = handlers.config.max_batch_records
    for entity in registry.names():
        one = _make_endpoint(handlers.post_one, entity)
        many = _make_endpoint(handlers.post_batch, entity)
        tags = [entity]
        app.add_api_route(f"/{entity}/", one, methods=["POST"], status_code=202, tags=tags,
                          summary=f"Post one raw {entity} record", operation_id=f"post_{entity}",
                          openapi_extra=post_openapi(entity, False, auth))
        app.add_api_route(f"/{entity}", one, methods=["POST"], status_code=202, include_in_schema=False)
        app.add_api_route(f"/{entity}/batch", many, methods=["POST"], status_code=202, tags=tags,
                          summary=f"Post up to {limit:,} raw {entity} records, validated all first",
                          operation_id=f"post_{entity}_batch",
                          openapi_extra=post_openapi(entity, True, auth, limit))
