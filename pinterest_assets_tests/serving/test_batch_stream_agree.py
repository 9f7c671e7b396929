"""Batch and stream take the same records: one rule (``partitions.untaken``) decides which records
the batch side does not take because of their Kafka timestamp, another (``messages.parse_message``)
which it does not take because of their bytes, and the landing and ``pin_stream`` both apply them,
with the same reason (issue 24, class 4)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from pinterest_assets.partitions import FIRST_MS, LAST_MS, untaken_reason, untaken_reason_column

pytestmark = pytest.mark.integration

EDGES = [None, -1, 0, 1000, FIRST_MS - 1, FIRST_MS, FIRST_MS + 1, int(time.time() * 1000), LAST_MS, LAST_MS + 1]


def test_the_rule_gives_the_same_reason_in_python_and_in_spark(spark):
    from pyspark.sql import functions as F

    frame = spark.createDataFrame([(i, ms) for i, ms in enumerate(EDGES)], "i INT, ms BIGINT")
    spark_reasons = dict(frame.select("i", untaken_reason_column(F.timestamp_millis("ms")).alias("r")).collect())
    python_reasons = {i: untaken_reason(ms) for i, ms in enumerate(EDGES)}
    assert spark_reasons == python_reasons
    assert [python_reasons[i] for i in range(len(EDGES))] == [
        "no_timestamp", "no_timestamp", "timestamp_before_first_partition", "timestamp_before_first_partition",
        "timestamp_before_first_partition", None, None, None, None, "timestamp_out_of_range"]


def test_a_record_is_in_both_views_or_neither_with_the_same_reason(stack, postgres, new_topic, produce,
                                                                   query_pg, tmp_path):
    from kafka.errors import KafkaError

    from pinterest_assets.landing.engine import land_topic
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets_tests.assets.conftest import lake_lines
    from pinterest_assets_tests.serving.conftest import pin_record
    from pinterest_assets_tests.serving.test_pin_stream import materialize_stream

    topic = new_topic(partitions=1)
    now = int(time.time() * 1000)
    records = [pin_record(i, str(uuid.uuid4())) for i in range(5)] + ["not json {"]
    stamps = [now, FIRST_MS - 1, FIRST_MS, 1000, now - 1, FIRST_MS - 1]
    produce(topic, records, partition=0, timestamps=stamps)
    # after the last partition: the broker refuses a timestamp more than an hour ahead of its clock
    # (message.timestamp.after.max.ms, 1 h by default since Kafka 4.0), so no such record exists
    # (its own producer: the refusal is fatal to the producer that sent it, and the session's
    # shared `produce` must stay usable for the tests after this one)
    from kafka import KafkaProducer

    refused = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all")
    try:
        with pytest.raises(KafkaError):
            refused.send(topic, value=json.dumps(pin_record(9)).encode(), partition=0,
                         timestamp_ms=now + 2 * 86_400_000).get(timeout=30)
    finally:
        refused.close(timeout=5)

    lake = LakeResource(uri=(tmp_path / "lake").as_uri())
    land_topic(KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics={"pin": topic}), lake, "pin")
    batch_taken = {r["_offset"] for r in lake_lines(lake, "raw/pin")}
    batch_refused = {r["_offset"]: r["reason"] for r in lake_lines(lake, "quarantine/raw/pin")}

    table = f"pin_stream_{uuid.uuid4().hex[:8]}"
    materialize_stream(postgres, topic=topic, table=table, checkpoint_dir=str(tmp_path / "checkpoint"))
    stream_taken = {o for (o,) in query_pg(f'SELECT _kafka_offset FROM pinterest."{table}"')}
    stream_refused = dict(query_pg(f'SELECT _kafka_offset, reason FROM pinterest."{table}_rejects"'))

    assert batch_taken == stream_taken == {0, 2, 4}
    assert batch_refused == stream_refused == {
        1: "timestamp_before_first_partition", 3: "timestamp_before_first_partition",
        5: "timestamp_before_first_partition"}


# --------------------------------------------------------------------------- the message's bytes

BYTES_DAY = "2025-10-09"  # a day no other test loads into pin_table


def _pin(index: int, **fields) -> bytes:
    from pinterest_assets_tests.serving.conftest import pin_record

    return json.dumps(pin_record(index, str(uuid.uuid4()), **fields), ensure_ascii=False).encode()


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


# name -> the message's value (None: a message without a value)
MESSAGES = {
    "valid_pin": _pin(1),
    "not_utf8": _pin(2, title="caf-X").replace(b"caf-X", b"caf\xff"),
    "lone_surrogate": _pin(3).replace(b'"Maya K."', b'"\\ud800 K."'),
    "too_deep": _pin(4, extra=_nested(63)),  # 65 levels: 64 objects and the leaf value
    "deep_enough": _pin(5, extra=_nested(62)),  # 64 levels: taken
    "empty_array": b"[]",
    "json_string": b'"x"',
    "json_null": b"null",
    "no_value": None,
    "not_json": b"{not json",
    "empty_bytes": b"",
    "text_after_the_object": _pin(6) + b" {}",
    "float_too_large": _pin(7).replace(b'"downloaded": 1', b'"downloaded": 1, "extra": 1e999'),
    "escaped_accent": _pin(8, title="caf\\u00e9").replace(b"caf\\\\u00e9", b"caf\\u00e9"),
    "another_valid_pin": _pin(9),
}


@pytest.fixture(scope="module")
def both_views(stack, spark, postgres, new_topic, tmp_path_factory):
    """Every message of MESSAGES produced straight to Kafka, then landed, cleaned and loaded into
    pin_table for BYTES_DAY (the daily batch job) and streamed into its own pin_stream table.
    Returns name -> (in pin_table, in pin_stream, the batch side's reason, pin_stream's reason)."""
    import dagster as dg
    from kafka import KafkaProducer

    from pinterest_assets.assets.cleaned import clean_day
    from pinterest_assets.definitions import build_defs, build_resources
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets_tests.assets.conftest import day_ms, lake_lines, make_resources
    from pinterest_assets_tests.serving.test_pin_stream import materialize_stream

    topic = new_topic(partitions=1)
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all")
    offsets = {name: producer.send(topic, key=name.encode(), value=value, partition=0,
                                   timestamp_ms=day_ms(BYTES_DAY)).get(timeout=30).offset
               for name, value in MESSAGES.items()}
    producer.close()

    tmp = tmp_path_factory.mktemp("bytes")
    lake = LakeResource(uri=(tmp / "lake").as_uri())
    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics={"pin": topic})
    defs = build_defs()
    resources = {**defs.resources, **build_resources(stack), **make_resources(kafka, lake)}
    job = dg.Definitions(assets=defs.assets, jobs=defs.jobs, resources=resources).resolve_job_def("daily_batch_job")
    assert job.execute_in_process(partition_key=BYTES_DAY, asset_selection=[
        dg.AssetKey(k) for k in ("raw_pin", "cleaned_pin", "pin_table")]).success
    batch_reason = {r["_offset"]: r["reason"] for r in lake_lines(lake, "quarantine/raw/pin")}
    batch_reason.update({r["_offset"]: r["reason"] for r in clean_day(spark, lake, "pin", BYTES_DAY)[1].collect()})

    table = f"pin_stream_{uuid.uuid4().hex[:8]}"
    materialize_stream(postgres, topic=topic, table=table, checkpoint_dir=str(tmp / "checkpoint"))
    with postgres.connect() as conn:
        batch_taken = {o for (o,) in conn.execute(
            "SELECT _kafka_offset FROM pinterest.pin_table WHERE _kafka_topic = %s", (topic,))}
        stream_taken = {o for (o,) in conn.execute(f'SELECT _kafka_offset FROM pinterest."{table}"')}
        stream_reason = dict(conn.execute(f'SELECT _kafka_offset, reason FROM pinterest."{table}_rejects"').fetchall())
    return {name: (o in batch_taken, o in stream_taken, batch_reason.get(o), stream_reason.get(o))
            for name, o in offsets.items()}


TAKEN = {"valid_pin", "deep_enough", "escaped_accent", "another_valid_pin"}
REASONS = {"not_utf8": "not_utf8", "lone_surrogate": "lone_surrogate", "too_deep": "json_too_deep",
           "empty_array": "not_a_json_object", "json_string": "not_a_json_object", "json_null": "not_a_json_object",
           "no_value": "empty_message", "not_json": "not_json", "empty_bytes": "not_json",
           "text_after_the_object": "not_json", "float_too_large": "malformed_json"}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_each_message_is_in_both_views_or_neither_with_the_same_reason(both_views, name):
    in_batch, in_stream, batch_reason, stream_reason = both_views[name]
    assert (in_batch, in_stream) == ((True, True) if name in TAKEN else (False, False))
    assert batch_reason == stream_reason == REASONS.get(name)


EDGE_VALUES = [
    b'{"index": 1}', b'{"index": 1} x', b'{"index": 1}{"index": 2}', b'{"index": 1},{}', b'{"index": 1}]',
    b'{"index": 1}}', b'\xef\xbb\xbf{"index": 1}', b' {"index": 1} \n', b'{"index": 1}\x00', b'{"index": 1,}',
    b'{"index": 1e999}', b'{"index": 1E+400}', b'{"index": 1' + b"0" * 400 + b'.5}', b'{"index": ' + b"9" * 2000 + b"}",
    b'{"index": 1.50}', b'{"index": 1, "index": 2}', b'{"index": "\\ud83d\\ude00"}', b'{"index": "\\udc00"}',
    b'{"title": "a\\\\ud800"}', b'{"title": "x\x01y"}', b'{"title": NaN}', b'{"title": [1, [2, {"a": null}]]}',
    b'{"title": "\xed\xa0\x80"}', b'{"title": "caf\\u00e9 \\u00e9123"}', b"{}", b"[{}]", b"1", b"true",
]


def test_the_stream_reads_each_message_as_the_batch_side_reads_its_landed_line(spark):
    """Fast path and Python path together: for every value, pin_stream's raw frame has the landing's
    reason, or the fields Spark reads from the line the landing writes."""
    from datetime import UTC, datetime

    from pinterest_assets.stream.source import kafka_records_as_raw_pins
    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.messages import landed_json

    values = [*MESSAGES.values(), *EDGE_VALUES]
    now = datetime.now(UTC)
    records = spark.createDataFrame(
        [(None if v is None else bytearray(v), "t", 0, i, now) for i, v in enumerate(values)],
        "value BINARY, topic STRING, partition INT, offset BIGINT, timestamp TIMESTAMP")
    streamed = kafka_records_as_raw_pins(records).drop("_raw", "_topic", "_partition", "_timestamp", "_order")
    landed = [(i, *landed_json(v)) for i, v in enumerate(values)]
    lines = spark.createDataFrame(landed, "_offset BIGINT, value STRING, _landing_reason STRING")
    batch = raw_frame_from_json(lines, "value", entity="pin").drop("_raw")
    got = {r["_offset"]: r.asDict() for r in streamed.collect()}
    want = {r["_offset"]: r.asDict() for r in batch.collect()}
    assert got == want
