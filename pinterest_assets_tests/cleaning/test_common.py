"""Raw framing, typed input, latest_per_key, and batch/stream parity."""

from __future__ import annotations

import json

import pytest

from pinterest_assets import entities as registry
from pinterest_assets.cleaning import latest_per_key, raw_frame_from_json
from pinterest_assets.ordering import order_column
from pinterest_assets.cleaning.pin import clean_pin


def test_raw_frame_renders_json_values_as_text_and_keeps_lineage(spark):
    line = json.dumps({
        "index": 7, "unique_id": "u", "tag_list": ["a", "b"], "downloaded": True,
        "follower_count": 1.50, "title": "hé\u00a0llo 😀", "category": None, "nested": {"x": 1},
    }, ensure_ascii=False)
    frame = spark.createDataFrame(
        [(line, "pinterest.pin", 0, 41), ("oops", "pinterest.pin", 0, 42)],
        "value string, _topic string, _partition int, _offset long",
    )
    rows = raw_frame_from_json(frame, "value", "pin").collect()
    assert rows[0].asDict() == {
        "index": "7", "ind": None, "unique_id": "u", "title": "hé\u00a0llo 😀", "description": None,
        "poster_name": None, "follower_count": "1.5", "tag_list": '["a","b"]',
        "is_image_or_video": None, "image_src": None, "downloaded": "true",
        "save_location": None, "category": None,
        "_raw": line, "_malformed": False,
        "_topic": "pinterest.pin", "_partition": 0, "_offset": 41,
    }
    assert rows[1]["_malformed"] is True and rows[1]["_raw"] == "oops" and rows[1]["_offset"] == 42


def test_raw_frame_from_binary_kafka_value(spark):
    frame = spark.createDataFrame([(bytearray(b'{"ind": 3, "age": "40"}'),)], "value binary")
    row = raw_frame_from_json(frame, "value", "user").first()
    assert (row["ind"], row["age"], row["_malformed"]) == ("3", "40", False)


def test_unknown_entity_is_a_clear_error(spark):
    frame = spark.createDataFrame([("{}",)], "value string")
    with pytest.raises(ValueError, match="unknown entity 'board'"):
        raw_frame_from_json(frame, entity="board")


def test_cleaner_accepts_typed_columns_and_missing_ones(spark):
    """A frame read with inferred types (numbers, booleans, arrays) cleans like the string frame."""
    frame = spark.createDataFrame(
        [(5, "00000000-0000-4000-8000-000000000005", 2500, ["#x", "y"], True)],
        "index long, unique_id string, follower_count long, tag_list array<string>, downloaded boolean",
    )
    clean, rejects = clean_pin(frame)
    row = clean.first().asDict()
    assert row == {
        "ind": 5, "unique_id": "00000000-0000-4000-8000-000000000005", "title": None,
        "description": None, "poster_name": None, "follower_count": 2500, "tag_list": ["x", "y"],
        "is_image_or_video": None, "image_src": None, "downloaded": True,
        "save_location": None, "category": None,
    }
    assert rejects.count() == 0


def test_rejects_without_raw_text_rebuild_the_record_as_json(spark):
    frame = spark.createDataFrame([("bad", "x", 9)], "index string, unique_id string, _offset long")
    _, rejects = clean_pin(frame)
    assert [r.asDict() for r in rejects.collect()] == [
        {"raw": '{"index":"bad","unique_id":"x"}', "reason": "invalid_ind", "_offset": 9}
    ]


def test_latest_per_key_is_log_order_not_timestamp(spark):
    """The highest offset in the key's partition wins, even with an older producer timestamp."""
    rows = [
        ("u1", "old", 300, 0, 1),
        ("u1", "newest-offset-older-clock", 100, 0, 2),
        ("u2", "only", 50, 0, 7),
        ("u3", "partition 0", 900, 0, 50),
        ("u3", "partition 2", 100, 2, 3),
    ]
    frame = spark.createDataFrame(rows, "unique_id string, title string, _timestamp long, _partition int, _offset long")
    frame = frame.withColumn("_order", order_column(None))
    kept = {r["unique_id"]: r["title"] for r in latest_per_key(frame, "pin").collect()}
    assert kept == {"u1": "newest-offset-older-clock", "u2": "only", "u3": "partition 2"}


def test_latest_per_key_by_input_line(spark):
    frame = spark.createDataFrame([(1, "a", 1), (1, "b", 3), (2, "c", 2), (1, "d", 2)], "ind long, country string, _line long")
    kept = {r["ind"]: r["country"] for r in latest_per_key(frame, "geo").collect()}
    assert kept == {1: "b", 2: "c"}


def test_latest_per_key_needs_an_order(spark):
    frame = spark.createDataFrame([(1,)], "ind long")
    with pytest.raises(ValueError, match="_line"):
        latest_per_key(frame, "user")


def test_key_columns_and_raw_fields():
    assert {e.name: e.key for e in registry.ENTITIES.values()} == {"pin": "unique_id", "geo": "ind", "user": "ind"}
    assert set(registry.names()) == {"pin", "geo", "user"}


PARITY_RECORDS = [
    {"index": 1, "unique_id": "00000000-0000-4000-8000-000000000001", "title": " A\u00a0title ",
     "follower_count": "1.5k", "tag_list": "#a,b ,#a", "downloaded": "1",
     "save_location": "Local save in /data/art", "is_image_or_video": "multi-video(story page format)"},
    {"index": 2, "unique_id": "00000000-0000-4000-8000-000000000002", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
     "title": "No Title Data Available", "follower_count": "User Info Error", "image_src": "Image src error."},
    {"index": 3, "unique_id": "00000000-0000-4000-8000-000000000003", "tag_list": ["#x", "y"], "follower_count": 2_500_000},
    {"index": "bad", "unique_id": "00000000-0000-4000-8000-000000000004"},
    {"index": 5, "unique_id": "nope"},
]


def test_batch_and_stream_give_the_same_output(spark, tmp_path):
    """The same raw lines through spark.read (batch) and spark.readStream (availableNow) match exactly."""
    source = tmp_path / "raw"
    source.mkdir()
    lines = [json.dumps(r, ensure_ascii=False) for r in PARITY_RECORDS] + ["{not json"]
    (source / "part-0.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    batch_clean, batch_rejects = clean_pin(raw_frame_from_json(spark.read.text(str(source)), "value", "pin"))

    stream_raw = raw_frame_from_json(spark.readStream.text(str(source)), "value", "pin")
    stream_clean, stream_rejects = clean_pin(stream_raw)
    assert stream_clean.isStreaming
    collected = {}
    for name, frame in (("parity_clean", stream_clean), ("parity_rejects", stream_rejects)):
        query = (
            frame.writeStream.format("memory").queryName(name)
            .option("checkpointLocation", str(tmp_path / f"ckpt-{name}"))
            .trigger(availableNow=True).start()
        )
        query.awaitTermination(120)
        collected[name] = spark.table(name)

    def rows(df):
        return sorted(json.dumps(r.asDict(recursive=True), sort_keys=True) for r in df.collect())

    assert rows(collected["parity_clean"]) == rows(batch_clean)
    assert rows(collected["parity_rejects"]) == rows(batch_rejects)
    assert len(rows(batch_clean)) == 3
    assert sorted(r["reason"] for r in batch_rejects.collect()) == ["invalid_ind", "invalid_unique_id", "malformed_json"]
    stream_rows = {r["ind"]: r for r in collected["parity_clean"].collect()}
    assert stream_rows[1]["tag_list"] == ["a", "b"] and stream_rows[1]["follower_count"] == 1500
    assert stream_rows[2]["tag_list"] is None and stream_rows[3]["follower_count"] == 2500000
