"""Operations endpoints: GET /healthz (process up), /readyz (Kafka reachable), /metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from pinterest_ingest.api.errors import error_response
from pinterest_ingest.api.schemas import OBJECT, RETRY_AFTER, error, json_content


def add_ops_routes(app: FastAPI, producer, metrics, config, auth: bool) -> None:
    retry_headers = {"Retry-After": str(config.retry_after)}

    @app.get("/healthz", tags=["ops"], summary="The process is up",
             responses={200: {"content": json_content(OBJECT)}})
    async def healthz():
        return {"status": "ok"}

    ready_responses = {200: {"content": json_content(OBJECT)},
                       503: error("Kafka is not reachable", RETRY_AFTER)}
    if auth:
        ready_responses[401] = error("missing or wrong bearer token")

    @app.get("/readyz", tags=["ops"], summary="Kafka is reachable" + (" (needs the API key)" if auth else ""),
             responses=ready_responses)
    async def readyz():
        ok, detail = await producer.reachable()
        if ok:
            # still ready with a topic missing: the other entities' endpoints work (that one answers 503)
            return {"status": "ready", "kafka": config.bootstrap_servers, "pending": producer.pending,
                    "missing_topics": sorted(producer.missing_topics())}
        return error_response(503, "kafka_unavailable", detail, headers=retry_headers)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics",
             response_class=Response,
             responses={200: {"description": "Prometheus text exposition format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus_metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
