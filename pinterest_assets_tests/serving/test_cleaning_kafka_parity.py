"""The cleaning library gives the same rows on a Kafka stream as on a batch of the same records."""

import json
import uuid

import pytest

from pinterest_assets_tests.serving.conftest import pin_record

pytestmark = pytest.mark.integration

# dirty on purpose: every rule of the pin cleaner gets a record, plus rejects of each reason
RECORDS = [
    pin_record(1),
    pin_record(2, title="No Title Data Available", poster_name="User Info Error", follower_count="User Info Error",
               tag_list="N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", image_src="Image src error.", downloaded=0),
    pin_record(3, title="  Зимний\u00a0\u00a0домик ❄️ ", description="Easy\u00a0recipes…", follower_count="1,234",
               tag_list=["#a", "b, c", "#a"], is_image_or_video=" Image ", category=" Home-Decor "),
    pin_record(4, follower_count="2.5M", tag_list="#,t,r,a,v,e,l", is_image_or_video="video",
               save_location="somewhere", downloaded="true"),
    pin_record(5, unique_id=" 5D2C8C5F-1A2B-4C3D-8E9F-0A1B2C3D4E5F ", follower_count=1.0e7, title="Untitled"),
    {"index": " 6 ", "unique_id": str(uuid.uuid4()), "title": None, "tag_list": ""},
    pin_record(7, unique_id="5d2c8c5f1a2b4c3d8e9f0a1b2c3d4e5f"),  # invalid_unique_id
    pin_record("seven"),  # invalid_ind
    "not json {",  # malformed_json
    "[1, 2]",  # not an object
    {"index": 8, "unique_id": str(uuid.uuid4()), "extra": {"nested": True}, "downloaded": "yes"},
]


def _rows(df, drop_prefix="_") -> list[str]:
    """Rows as canonical JSON text without lineage columns, sorted (order-free comparison)."""
    keep = [c for c in df.columns if not c.startswith(drop_prefix)]
    return sorted(json.dumps(r.asDict(recursive=True), sort_keys=True, default=str, ensure_ascii=False)
                  for r in df.select(*keep).collect())


def test_stream_and_batch_cleaning_agree(spark, stack, new_topic, produce, tmp_path):
    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.cleaning.pin import clean_pin

    topic = new_topic(partitions=1)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in RECORDS]
    produce(topic, lines, partition=0)

    # batch: JSON text lines through the library
    batch_clean, batch_rejects = clean_pin(raw_frame_from_json(spark.createDataFrame([(x,) for x in lines], "value string")))

    # stream: the same records from Kafka, availableNow, through the same functions
    kafka = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", stack.kafka_bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("CAST(value AS STRING) AS value", "topic AS _topic", "`partition` AS _partition",
                    "offset AS _offset", "timestamp AS _timestamp")
    )
    stream_clean, stream_rejects = clean_pin(raw_frame_from_json(kafka, "value", entity="pin"))
    assert stream_clean.isStreaming
    outputs = {}
    for side, frame in (("clean", stream_clean), ("rejects", stream_rejects)):
        name = f"parity_{side}_{uuid.uuid4().hex[:8]}"
        query = (frame.writeStream.format("memory").queryName(name)
                 .option("checkpointLocation", str(tmp_path / side)).trigger(availableNow=True).start())
        query.awaitTermination()
        assert query.exception() is None
        outputs[side] = spark.table(name)
        assert set(outputs[side].columns) >= {"_topic", "_partition", "_offset", "_timestamp"}

    assert outputs["clean"].columns[:12] == batch_clean.columns[:12]
    assert _rows(outputs["clean"]) == _rows(batch_clean)
    assert len(_rows(batch_clean)) == 7
    assert _rows(outputs["rejects"]) == _rows(batch_rejects)
    reasons = sorted(r["reason"] for r in batch_rejects.collect())
    assert reasons == ["invalid_ind", "invalid_unique_id", "malformed_json", "malformed_json"]
    all_offsets = sorted([r["_offset"] for r in outputs["clean"].collect()] + [r["_offset"] for r in outputs["rejects"].collect()])
    assert all_offsets == list(range(len(RECORDS)))  # every record is accounted for, once
