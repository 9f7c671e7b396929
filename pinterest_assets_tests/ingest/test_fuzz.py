"""Property-based checks: schemathesis against the live API's /openapi.json (bounded), and
hypothesis properties tying the hand-written validation to the documented schema."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pinterest_assets import entities as registry
from pinterest_ingest import api as api_module
from pinterest_ingest.producer import murmur2

pytestmark = pytest.mark.integration

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
OPERATIONS = [("POST", f"/{e}/") for e in ("pin", "geo", "user")] + \
             [("POST", f"/{e}/batch") for e in ("pin", "geo", "user")] + \
             [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")]


@pytest.fixture(scope="module")
def api_schema(api_url):
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json")


# schemathesis' own pytest plugin (`from_fixture(...).parametrize()`) reads `request.node._nodeid`,
# which pytest 9 no longer has; so drive its hypothesis strategies directly, one operation a test.
# GETs take no input, so they have no negative cases.
CASES = [(m, p, mode) for m, p in OPERATIONS for mode in GenerationMode
         if m == "POST" or mode is GenerationMode.POSITIVE]


@pytest.mark.parametrize("method,path,mode", CASES, ids=[f"{m} {p} {mode}" for m, p, mode in CASES])
def test_api_conforms_to_its_openapi_and_never_answers_5xx(api_schema, method, path, mode):
    operation = api_schema[path][method]
    assert operation.path == path, "the operation is documented"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=30 if method == "POST" else 5, deadline=timedelta(seconds=10), database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(timeout=30)
        # Kafka is up for this test: a 503 would mean the API failed, not the broker
        assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
        case.validate_response(response, checks=CHECKS)

    check()


# ------------------------------------------------------------------------- validation == schema
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
integer_like_text = st.from_regex(r"\A[ \t]{0,2}[+-]?[0-9]{1,25}[ \t]{0,2}\Z")


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, integer_like_text))
def test_key_validation_matches_the_documented_schema(value):
    import jsonschema_rs

    for entity in ("pin", "geo", "user"):
        record = {"unique_id": "u", "index": value} if entity == "pin" else {"ind": value}
        documented = jsonschema_rs.validator_for(api_module.RECORD_SCHEMAS[entity]).is_valid(record)
        assert (api_module.record_problems(entity, record) == []) == documented, (entity, record)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.dictionaries(st.sampled_from(["unique_id", "index", "ind", "x"]), json_values)))
def test_any_json_body_is_accepted_or_rejected_by_name(record):
    for entity in ("pin", "geo", "user"):
        problems = api_module.record_problems(entity, record)
        if not problems:
            key = api_module.partition_key(entity, record)
            ind = record.get("ind")
            if entity == "pin":  # a valid UUID is trimmed and lower-cased; any other text is kept as posted
                normalised = registry.entity("pin").normalize_key(record["unique_id"])
                expected = (normalised or record["unique_id"]).encode("utf-8", "surrogatepass")
            else:
                expected = str(int(ind.strip() if isinstance(ind, str) else ind)).encode()
            assert key == expected
        for problem in problems:
            assert problem["field"] in (None, "unique_id", "index", "ind") and problem["problem"]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_fast_murmur2_equals_kafka_pythons(data):
    from kafka.partitioner.default import murmur2 as reference

    assert murmur2(data) == reference(data)


# ------------------------------------------------------------------------- any bytes: parsed or a 422
json_ish_text = st.lists(st.sampled_from(['{', '}', '[', ']', ',', ':', '"', '\\', '\\ud800', '\\u00e9', 'NaN',
                                          '-Infinity', '1e999', '0', '-', '.', 'true', 'nul', ' ', '\n',
                                          '"unique_id"', '"index"', '"ind"', 'é', '❄️']),
                         max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), json_ish_text.map(lambda t: t.encode("utf-8"))))
def test_any_body_is_parsed_and_encoded_or_refused_with_a_named_422(body):
    from pinterest_ingest.api import ApiError, encode

    try:
        value = api_module.parse_json(body)
    except ApiError as exc:
        assert exc.status == 422 and exc.reason in ("invalid_json", "too_deep") and exc.detail
        if exc.reason == "invalid_json" and exc.errors and "line" in exc.errors[0]:
            assert exc.errors[0]["line"] >= 1 and exc.errors[0]["column"] >= 1
        return
    for entity in ("pin", "geo", "user"):
        if api_module.record_problems(entity, value):
            continue
        try:
            key, raw = encode(entity, value)
        except ApiError as exc:
            assert exc.status == 422 and exc.errors[0]["problem"]
            continue
        assert json.loads(raw.decode("utf-8")) == value  # what reaches Kafka is strict UTF-8 JSON
        key.decode("utf-8")


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010)) | st.integers(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010),
                                              max_size=3), inner, max_size=3), max_leaves=8))
def test_a_lone_surrogate_anywhere_is_named(value):
    from pinterest_ingest.api import ApiError, encode

    record = {"ind": 1, "payload": value}
    try:
        encode("geo", record)
    except ApiError as exc:
        assert exc.reason == "invalid_text" and exc.errors[0]["field"].startswith("payload")
    else:
        json.dumps(record, ensure_ascii=False).encode("utf-8")  # no surrogate anywhere
