"""Batch and stream take the same records: one rule (``partitions.untaken``) decides which records
the batch side does not take because of their Kafka timestamp, and the landing and ``pin_stream``
both apply it, with the same reason (issue 24, class 4)."""

from __future__ import annotations

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

    from pinterest_assets.assets.raw import land_topic
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
    with pytest.raises(KafkaError):
        produce(topic, [pin_record(9)], partition=0, timestamps=[now + 2 * 86_400_000])

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
