"""The ingestion API against the real Kafka broker: what a client sees, and what lands in the topics."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from pinterest_ingest import datagen, emulator
from pinterest_assets import entities as registry

pytestmark = pytest.mark.integration

DIRTY_PIN = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "Café crème ❄️ зимний домик\u00a0",
    "description": "No\u00a0description available…",
    "poster_name": "User Info Error",
    "follower_count": "124k",
    "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
    "is_image_or_video": "multi-video(story page format)",
    "image_src": "Image src error.",
    "downloaded": 0,
    "save_location": "Local save in /data/christmas",
    "category": "christmas",
    "an_unknown_field": {"nested": [1, None, True]},
}


def test_post_pin_lands_in_kafka_as_the_same_json(client, topics):
    response = client.post("/pin/", json=DIRTY_PIN)
    assert response.status_code == 202, response.text
    ack = response.json()
    assert ack["topic"] == "pinterest.pin" and ack["key"] == DIRTY_PIN["unique_id"]
    record = topics.at(ack["topic"], ack["partition"], ack["offset"])
    assert record.key == DIRTY_PIN["unique_id"].encode()
    assert json.loads(record.value) == DIRTY_PIN  # dirt and unknown fields pass through unchanged
    assert record.value == json.dumps(DIRTY_PIN, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("entity,path", [("geo", "/geo"), ("user", "/user/")])
def test_geo_and_user_are_keyed_by_ind_with_or_without_slash(client, topics, entity, path):
    record = datagen.generate(5, seed=3)[entity][4]
    record["ind"] = " 4 "  # an integer-like string is accepted; the key is its integer text
    response = client.post(path, json=record)
    assert response.status_code == 202, response.text
    ack = response.json()
    assert ack["topic"] == registry.topics()[entity] and ack["key"] == "4"
    message = topics.at(ack["topic"], ack["partition"], ack["offset"])
    assert message.key == b"4" and json.loads(message.value) == record


def test_a_key_in_upper_case_with_spaces_shares_partition_and_key_with_its_lower_case(client, topics):
    """The Kafka key is the normalised key (Entity.normalize_key): every version of a pin shares
    a partition, so "newest" is log order."""
    unique_id = "9b1de6a0-7c2f-4e0a-9f3b-6c1a2d3e4f5a"
    shouted = f"  {unique_id.upper()} \t"
    acks = [client.post("/pin/", json={**DIRTY_PIN, "unique_id": u, "title": t}).json()
            for u, t in ((shouted, "first"), (unique_id, "second"), (unique_id.upper(), "third"))]
    assert [a["key"] for a in acks] == [unique_id] * 3
    assert len({a["partition"] for a in acks}) == 1
    assert acks[0]["offset"] < acks[1]["offset"] < acks[2]["offset"]
    messages = [topics.at(a["topic"], a["partition"], a["offset"]) for a in acks]
    assert [m.key for m in messages] == [unique_id.encode()] * 3
    assert json.loads(messages[0].value)["unique_id"] == shouted  # the record itself is unchanged
    # and it is the partition Kafka's own (Java-compatible) partitioner picks for that key
    from kafka.partitioner.default import murmur2

    count = len(topics.consumer.partitions_for_topic("pinterest.pin"))
    assert acks[0]["partition"] == (murmur2(unique_id.encode()) & 0x7FFFFFFF) % count
    batch = client.post("/pin/batch", json=[{**DIRTY_PIN, "unique_id": shouted}]).json()
    assert batch["records"][0]["key"] == unique_id and batch["records"][0]["partition"] == acks[0]["partition"]


def test_same_key_goes_to_the_same_partition(client):
    first = client.post("/pin/", json={**DIRTY_PIN, "title": "one"}).json()
    second = client.post("/pin/", json={**DIRTY_PIN, "title": "two"}).json()
    assert first["partition"] == second["partition"] and second["offset"] > first["offset"]


@pytest.mark.parametrize("body", [[DIRTY_PIN], "a string", 42, None])
def test_a_non_object_on_the_single_endpoint_is_422(client, topics, body):
    before = topics.end_offsets()
    response = client.post("/pin/", content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "must be a JSON object" in response.json()["errors"][0]["problem"]
    assert topics.end_offsets() == before


@pytest.mark.parametrize("entity,field", [("pin", "unique_id"), ("pin", "index"), ("geo", "ind"),
                                          ("user", "ind")])
def test_missing_key_is_422_naming_it(client, entity, field):
    record = {"pin": dict(DIRTY_PIN), "geo": {"ind": 1, "country": "Chad"},
              "user": {"ind": 1, "age": 20}}[entity]
    del record[field]
    response = client.post(f"/{entity}/", json=record)
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [{"field": field, "problem": "missing"}]
    assert field in body["detail"]


@pytest.mark.parametrize("value", ["12a", "", "1.5", 1.5, True, [1], {"a": 1}])
def test_a_non_integer_index_is_422(client, value):
    response = client.post("/pin/", json={**DIRTY_PIN, "index": value})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "index"


def test_an_empty_unique_id_is_422(client):
    response = client.post("/pin/", json={**DIRTY_PIN, "unique_id": ""})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "unique_id"


def test_oversize_is_413_by_content_length_and_by_actual_size(client):
    big = {**DIRTY_PIN, "description": "x" * (1024 * 1024)}
    response = client.post("/pin/", json=big)
    assert response.status_code == 413
    # chunked upload: no Content-Length to trust, the server counts what arrives
    payload = json.dumps(big).encode()
    chunks = (payload[i:i + 65536] for i in range(0, len(payload), 65536))
    response = client.post("/pin/", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_a_wrong_media_type_is_415(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/pin/", content=json.dumps(DIRTY_PIN), headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"] == "not_json"
    assert (content_type or "nothing") in response.json()["detail"]


@pytest.mark.parametrize("content,line,column,problem", [
    ('{"unique_id": "a", "index": 1', 1, 30, "Expecting ',' delimiter"),
    ('{bad json', 1, 2, "Expecting property name enclosed in double quotes"),
    ('{\n  "unique_id": "a",\n  "index": 1,\n}', 4, 1, "Expecting property name enclosed in double quotes"),
    ('{"unique_id": "a",\n "index": NaN}', 2, 11, "NaN is not valid JSON"),
    ('{"unique_id": "a", "index": -Infinity}', 1, 29, "-Infinity is not valid JSON"),
    ('{"unique_id": "a", "index": ' + "9" * 5000 + "}", 1, 29, "more than 4300 digits"),
    (b'{"unique_id": "a",\n "title": "caf\xe9"}', 2, 15, "byte 0xe9 is not valid UTF-8"),
    ("", 1, 1, "Expecting value"),
])
def test_malformed_json_is_422_naming_line_and_column(client, topics, content, line, column, problem):
    before = topics.end_offsets()
    response = client.post("/pin/", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_json"
    assert f"line {line}, column {column}" in body["detail"]
    assert body["errors"] == [{"field": None, "problem": body["errors"][0]["problem"], "line": line, "column": column}]
    assert problem in body["errors"][0]["problem"]
    assert topics.end_offsets() == before


def test_json_nested_up_to_the_limit_lands_and_one_level_more_is_422(client, topics):
    def nest(levels):  # a value adding `levels` levels below the record object
        value = "leaf"
        for i in range(levels):
            value = {"k": value} if i % 2 else [value]
        return value

    ok = client.post("/pin/", json={**DIRTY_PIN, "deep": nest(31)})  # record (1) + 31 = 32 levels
    assert ok.status_code == 202, ok.text
    ack = ok.json()
    assert json.loads(topics.at(ack["topic"], ack["partition"], ack["offset"]).value)["deep"] == nest(31)

    before = topics.end_offsets()
    response = client.post("/pin/", json={**DIRTY_PIN, "deep": nest(32)})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "too_deep" and "32 levels" in body["detail"]
    assert body["errors"][0]["field"].startswith("deep.k[0].k[0]")
    batch = client.post("/pin/batch", json=[DIRTY_PIN, {**DIRTY_PIN, "deep": nest(32)}])
    assert batch.status_code == 422 and batch.json()["error"] == "too_deep"
    assert batch.json()["errors"][0]["index"] == 1 and "record 1" in batch.json()["detail"]
    assert topics.end_offsets() == before


@pytest.mark.parametrize("content,field", [
    ('{"unique_id": "\\ud800", "index": 1}', "unique_id"),
    ('{"unique_id": "a", "index": 1, "title": "x\\udfffy"}', "title"),
    ('{"unique_id": "a", "index": 1, "extra": {"tags": ["ok", "\\ud83d"]}}', "extra.tags[1]"),
    ('{"unique_id": "a", "index": 1, "\\ud800name": 1}', "\\ud800name"),
])
def test_a_lone_surrogate_is_422_naming_the_field(client, topics, content, field):
    before = topics.end_offsets()
    response = client.post("/pin/", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_text"
    assert body["errors"][0]["field"] == field and field in body["detail"]
    assert "surrogate" in body["errors"][0]["problem"]
    batch = client.post("/pin/batch", content=f"[{json.dumps(DIRTY_PIN)}, {content}]",
                        headers={"content-type": "application/json"})
    assert batch.status_code == 422 and batch.json()["errors"][0] == {**body["errors"][0], "index": 1}
    assert topics.end_offsets() == before


def test_a_paired_surrogate_escape_is_just_an_emoji(client, topics):
    content = '{"unique_id": "a", "index": 1, "title": "snow \\u2744\\ufe0f \\ud83d\\ude00"}'
    response = client.post("/pin/", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text
    ack = response.json()
    assert json.loads(topics.at(ack["topic"], ack["partition"], ack["offset"]).value)["title"] == "snow ❄️ 😀"


@pytest.mark.parametrize("content", [
    "[" * 100_000 + "]" * 100_000,                                  # nesting deeper than the parser
    '{"unique_id": "a", "index": 1, "f": 1e999}',                   # a float JSON cannot hold
])
def test_hostile_bodies_get_a_4xx_never_a_500(client, content):
    response = client.post("/pin/", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] in ("too_deep", "invalid_record")


def test_batch_is_produced_in_order_and_read_back(client, topics):
    records = datagen.generate(3, seed=5)["user"]
    response = client.post("/user/batch", json=records)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["topic"] == "pinterest.user" and body["accepted"] == 3
    for record, ack in zip(records, body["records"]):
        message = topics.at("pinterest.user", ack["partition"], ack["offset"])
        assert message.key == str(record["ind"]).encode() and json.loads(message.value) == record


def test_an_invalid_batch_is_422_naming_indexes_and_fields_and_produces_nothing(client, topics):
    records = datagen.generate_pins(5, seed=6)
    del records[1]["unique_id"]
    records[3]["index"] = "three"
    records[4] = ["not", "an", "object"]
    before = topics.end_offsets()
    response = client.post("/pin/batch", json=records)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} == {(1, "unique_id"), (3, "index"), (4, None)}
    assert "1, 3, 4" in response.json()["detail"]
    assert topics.end_offsets() == before


def test_batch_limits(client):
    assert client.post("/geo/batch", json=[]).status_code == 422
    assert client.post("/geo/batch", json={"ind": 1}).status_code == 422
    response = client.post("/geo/batch", json=[{"ind": i} for i in range(10_001)])
    assert response.status_code == 422 and "10000" in response.json()["detail"]


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    client.post("/geo/", json={"ind": 99})
    client.post("/geo/", json={"no": "key"})
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'pinterest_api_records_accepted_total{topic="pinterest.geo"}' in text
    assert 'pinterest_api_records_rejected_total{reason="invalid_record",status="422",topic="pinterest.geo"}' in text
    assert "pinterest_api_produce_latency_seconds_bucket" in text


def test_openapi_describes_bodies_and_every_response(client):
    spec = client.get("/openapi.json").json()
    for entity, key in (("pin", "unique_id"), ("geo", "ind"), ("user", "ind")):
        one = spec["paths"][f"/{entity}/"]["post"]
        schema = one["requestBody"]["content"]["application/json"]["schema"]
        assert key in schema["required"]
        assert {"202", "413", "415", "422", "503"} <= set(one["responses"])
        assert "Retry-After" in one["responses"]["503"]["headers"]
        batch = spec["paths"][f"/{entity}/batch"]["post"]
        assert batch["requestBody"]["content"]["application/json"]["schema"]["maxItems"] == 10_000
    assert {"/healthz", "/readyz", "/metrics"} <= set(spec["paths"])


def test_api_key_is_required_when_configured(start_api):
    with start_api({"PINTEREST_API_KEY": "s3cret"}) as url:
        assert httpx.post(f"{url}/geo/", json={"ind": 1}).status_code == 401
        wrong = httpx.post(f"{url}/geo/", json={"ind": 1}, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        ok = httpx.post(f"{url}/geo/", json={"ind": 1}, headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 202
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        bearer = {"authorization": "Bearer s3cret"}
        # the description and readiness (which names the Kafka address) need the key too
        for path in ("/docs", "/redoc", "/openapi.json", "/readyz"):
            denied = httpx.get(url + path)
            assert denied.status_code == 401, path
            assert denied.json()["error"] == "unauthorized"
            assert "Bearer" in denied.headers.get_list("www-authenticate")
            assert "s3cret" not in denied.text
            assert httpx.get(url + path, headers={"authorization": "Bearer nope"}).status_code == 401
            assert httpx.get(url + path, headers=bearer).status_code == 200, path
        # a browser opens /docs with HTTP Basic (the key as the password), then fetches /openapi.json
        assert any(h.startswith("Basic ") for h in httpx.get(f"{url}/docs").headers.get_list("www-authenticate"))
        assert httpx.get(f"{url}/docs", auth=("anyone", "s3cret")).status_code == 200
        assert httpx.get(f"{url}/docs", auth=("anyone", "wrong")).status_code == 401
        assert httpx.get(f"{url}/openapi.json", auth=("me", "s3cret")).status_code == 200
        spec = httpx.get(f"{url}/openapi.json", headers=bearer).json()
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert "401" in spec["paths"]["/geo/"]["post"]["responses"]
        assert "401" in spec["paths"]["/readyz"]["get"]["responses"]
        ready = httpx.get(f"{url}/readyz", headers=bearer).json()
        assert ready["status"] == "ready" and ready["missing_topics"] == []
        # probes and scrapers stay open, and /metrics shows no address
        metrics = httpx.get(f"{url}/metrics")
        assert metrics.status_code == 200 and "pinterest_api_records_accepted_total" in metrics.text
        assert 'pinterest_api_topic_available{topic="pinterest.geo"} 1.0' in metrics.text
        assert "pinterest_api_kafka_connected 1.0" in metrics.text
        bootstrap = ready["kafka"]
        host, _, port = bootstrap.rpartition(":")
        assert bootstrap and port not in metrics.text and host not in metrics.text
        assert "s3cret" not in metrics.text


def test_without_a_key_everything_is_open(client):
    for path in ("/docs", "/openapi.json", "/readyz", "/healthz", "/metrics"):
        assert client.get(path).status_code == 200, path


def test_broker_down_gives_503_within_the_bound_and_back_up_gives_202(stack, start_api, topics):
    from pinterest_platform.stack import kafka

    bound = 2.0
    with start_api({"PINTEREST_API_ACK_TIMEOUT": str(bound)}) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.post("/pin/", json=DIRTY_PIN).status_code == 202
        kafka.stop(stack)
        try:
            statuses = []
            for i in range(4):
                started = time.monotonic()
                response = c.post("/pin/", json={**DIRTY_PIN, "index": i})
                elapsed = time.monotonic() - started
                statuses.append(response.status_code)
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"].isdigit()
                assert elapsed < bound + 1.5, f"503 took {elapsed:.1f} s; the bound is {bound} s"
            batch = c.post("/pin/batch", json=[{**DIRTY_PIN, "index": 1}] * 3)
            assert batch.status_code == 503
            assert c.get("/readyz").status_code == 503
            # the emulator keeps retrying the 503s (backoff + jitter) until the broker is back
            emulated = {}
            config = emulator.EmulatorConfig(url=url, count=2, concurrency=2, retry_deadline=120, seed=3)
            worker = threading.Thread(target=lambda: emulated.setdefault("report", emulator.run(config)))
            worker.start()
            time.sleep(3)
        finally:
            kafka.start(stack, timeout=300)  # a loaded machine can take minutes to start a JVM
        deadline = time.monotonic() + 90
        while True:
            response = c.post("/pin/", json={**DIRTY_PIN, "index": 100})
            if response.status_code == 202:
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "the API did not recover after the broker came back"
            time.sleep(0.5)
        ack = response.json()
        assert json.loads(topics.at(ack["topic"], ack["partition"], ack["offset"]).value)["index"] == 100
        assert c.get("/readyz").status_code == 200
        worker.join(150)
        summary = emulated["report"].summary()
        assert summary["sent"] == 6 and summary["accepted_total"] == 6 and summary["failed"] == 0
        assert summary["retried"] >= 2


def test_api_started_without_kafka_serves_503_not_500(start_api):
    from pinterest_assets_tests.conftest import free_port

    nowhere = f"127.0.0.1:{free_port()}"
    with start_api({"PINTEREST_KAFKA_BOOTSTRAP": nowhere}, ready="/healthz") as url:
        started = time.monotonic()
        response = httpx.post(f"{url}/pin/", json=DIRTY_PIN, timeout=30)
        assert response.status_code == 503 and response.headers["retry-after"]
        assert nowhere in response.json()["detail"] and time.monotonic() - started < 5
        assert httpx.post(f"{url}/pin/batch", json=[DIRTY_PIN], timeout=30).status_code == 503
        ready = httpx.get(f"{url}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["error"] == "kafka_unavailable"


@pytest.mark.parametrize("path,content,content_type,status,reason", [
    ("/pin/", json.dumps({"index": 1}), "application/json", 422, "invalid_record"),
    ("/pin", json.dumps([1]), "application/json", 422, "invalid_record"),
    ("/geo/", "{", "application/json", 422, "invalid_json"),
    ("/geo/", '{"ind": 1,\n "x": tru}', "application/json", 422, "invalid_json"),
    ("/geo/", b'{"ind": 1, "x": "\xff"}', "application/json", 422, "invalid_json"),
    ("/geo/", '{"ind": NaN}', "application/json", 422, "invalid_json"),
    ("/geo/", '{"ind": 1, "x": ' + "[" * 40 + "]" * 40 + "}", "application/json", 422, "too_deep"),
    ("/geo/", "[" * 50_000 + "]" * 50_000, "application/json", 422, "too_deep"),
    ("/geo/", '{"ind": 1, "x": "\\ud800"}', "application/json", 422, "invalid_text"),
    ("/geo/batch", '[{"ind": 1}, {"ind": 2, "x": "\\udc00"}]', "application/json", 422, "invalid_text"),
    ("/geo/batch", '[{"ind": 1}, {"ind": 2, "x": ' + "[" * 40 + "]" * 40 + "}]", "application/json", 422,
     "too_deep"),
    ("/user/", json.dumps({"ind": 1}), "text/csv", 415, "not_json"),
    ("/user/batch", json.dumps([{"ind": 1}, {}]), "application/json", 422, "invalid_record"),
    # valid, but this app has no producer: 503
    ("/geo/", json.dumps({"ind": 1}), "application/json", 503, "kafka_unavailable"),
])
def test_fast_path_and_fastapi_routes_answer_alike(path, content, content_type, status, reason):
    import asyncio

    from pinterest_ingest.api import ApiConfig, create_app

    async def call(fast_path: bool):
        app = create_app(ApiConfig(bootstrap_servers="127.0.0.1:1", fast_path=fast_path))
        transport = httpx.ASGITransport(app=app)  # no lifespan: the producer never connects
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            r = await c.post(path, content=content, headers={"content-type": content_type})
            return r.status_code, r.json(), r.headers.get("retry-after")

    fast, routed = asyncio.run(call(True)), asyncio.run(call(False))
    assert fast == routed
    assert (fast[0], fast[1]["error"]) == (status, reason), fast
