"""Raw landing under attack, on the real broker: poison bytes produced straight to Kafka (bypassing
the API), a deleted landed file, a recreated topic, retention deleting unlanded offsets, a missing
topic. Every message lands or is quarantined with a reason; nothing is skipped silently."""

from __future__ import annotations

import base64
import json
import time
import uuid

import dagster as dg
import pytest

from pinterest_assets.assets.raw import build_raw_asset
from pinterest_assets.landing.engine import land_topic
from pinterest_assets.landing.files import landed_files
from pinterest_assets.landing.history import LandingRefused
from pinterest_assets_tests.assets.conftest import accept_loss_then_land_again, lake_lines
from pinterest_ingest.datagen import generate_pins

pytestmark = pytest.mark.integration

MIB = 1024 * 1024

# (bytes produced straight to Kafka, the quarantine reason expected; None = lands as a clean record)
POISON = [
    (b"[" * 1000 + b"]" * 1000, "json_too_deep"),
    (b'{"a":' * 1000 + b"1" + b"}" * 1000, "json_too_deep"),
    (b'{"index": 1, "unique_id": "x", "title": "\\ud800"}', "lone_surrogate"),
    (b'{"title": "\xff\xfe broken utf-8"}', "not_utf8"),
    (b"", "not_json"),
    (None, "empty_message"),
    (b"null", "not_a_json_object"),
    (b"[1, 2, 3]", "not_a_json_object"),
    (b"42", "not_a_json_object"),
    (b'"just a string"', "not_a_json_object"),
    (b"NaN", "not_json"),
    (b"\x00\x00\x00", "not_json"),
    (json.dumps({"index": 7, "unique_id": "nul", "title": "a\u0000b"}).encode(), None),
    (json.dumps({"index": 8, "unique_id": "big", "title": "y" * MIB}).encode(), None),
    # characters JSON leaves unescaped but line splitters (str.splitlines) break at
    (json.dumps({"index": 9, "unique_id": "sep", "title": "a\u2028b\x85c\u2029d"}, ensure_ascii=False).encode(),
     None),
]


@pytest.fixture
def big_producer(stack):
    from kafka import KafkaProducer

    prod = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", max_request_size=3 * MIB)
    yield prod
    prod.close()


def send(producer, topic, value, key=b"poison", partition=0, timestamp_ms=None):
    md = producer.send(topic, value=value, key=key, partition=partition, timestamp_ms=timestamp_ms).get(timeout=30)
    return md.partition, md.offset


def test_poison_between_valid_records_is_quarantined_and_never_blocks(kafka, file_lake, topics, big_producer):
    pins = generate_pins(len(POISON) + 1, seed=77)
    valid, poison = [], []
    for pin, (value, reason) in zip(pins, [*POISON, (None, "end")]):
        valid.append(send(big_producer, topics["pin"], json.dumps(pin).encode(), pin["unique_id"].encode()))
        if reason != "end":
            poison.append((send(big_producer, topics["pin"], value), value, reason))
    # an unusable producer timestamp: before the first daily partition
    poison.append((send(big_producer, topics["pin"], json.dumps(pins[0]).encode(), timestamp_ms=1000),
                   json.dumps(pins[0]).encode(), "timestamp_before_first_partition"))

    result = dg.materialize([build_raw_asset("pin")], resources={"kafka": kafka, "lake": file_lake})
    assert result.success
    landed = {(r["_partition"], r["_offset"]): r for r in lake_lines(file_lake, "raw/pin")}
    quarantined = {(r["_partition"], r["_offset"]): r for r in lake_lines(file_lake, "quarantine/raw/pin")}
    for at in valid:
        assert at in landed and at not in quarantined
    by_uid = {r["unique_id"]: r for r in landed.values()}
    assert all(by_uid[p["unique_id"]]["title"] == p["title"] for p in pins)
    for at, value, reason in poison:
        if reason is None:
            assert at in landed and at not in quarantined, value[:40]
            continue
        assert at in quarantined and at not in landed, (reason, (value or b"")[:40])
        record = quarantined[at]
        assert record["reason"] == reason, (record["reason"], reason)
        kept = record["value_base64"]
        assert (kept is None) if value is None else base64.b64decode(kept) == value
    assert landed[poison[12][0]]["title"] == "a\u0000b"
    assert len(landed[poison[13][0]]["title"]) == MIB
    assert landed[poison[14][0]]["title"] == "a\u2028b\x85c\u2029d"
    # one record per line for every reader, str.splitlines() included
    for path in sorted((file_lake.store.root / "raw" / "pin").rglob("*.jsonl")):
        text = path.read_text(encoding="utf-8")
        assert text.splitlines() == text.rstrip("\n").split("\n"), path
    # every offset of the partition is covered exactly once
    ends = kafka.end_offsets([topics["pin"]])
    covered = sorted(o for f in landed_files(file_lake, "pin") if f.partition == 0 for o in range(f.first, f.last + 1))
    assert covered == list(range(ends[(topics["pin"], 0)]))


def test_a_deleted_landed_file_fails_the_next_landing_naming_the_gap(kafka, file_lake, produce, topics):
    pins = generate_pins(30, seed=78)
    produce(topics["pin"], pins, partition=0)
    land_topic(kafka, file_lake, "pin", max_records_per_file=10)
    files = [f for f in landed_files(file_lake, "pin") if f.partition == 0]
    assert [(f.first, f.last) for f in files] == [(0, 9), (10, 19), (20, 29)]
    (file_lake.store.root / files[1].relpath).unlink()
    produce(topics["pin"], generate_pins(5, seed=79), partition=0)

    with pytest.raises(LandingRefused, match=r"offsets 10\.\.19 \(10, gap\)"):
        land_topic(kafka, file_lake, "pin")
    raw_pin = build_raw_asset("pin")
    failed = dg.materialize([raw_pin], resources={"kafka": kafka, "lake": file_lake}, raise_on_error=False)
    assert not failed.success
    # the new events were not landed past the gap
    assert max(f.last for f in landed_files(file_lake, "pin") if f.partition == 0) == 29

    accept_loss_then_land_again(raw_pin, kafka, file_lake, lost=10, landed=5)


def test_a_recreated_topic_fails_the_landing(kafka, file_lake, produce, topics, admin):
    from kafka.admin import NewTopic

    produce(topics["geo"], [{"ind": i} for i in range(6)], partition=0)
    land_topic(kafka, file_lake, "geo")
    admin.delete_topics([topics["geo"]], timeout_ms=30000)
    deadline = time.monotonic() + 60
    while True:
        try:
            admin.create_topics([NewTopic(topics["geo"], 3, 1)], timeout_ms=30000)
            break
        except Exception:  # noqa: BLE001 - the deletion is asynchronous: retry until the name is free
            assert time.monotonic() < deadline
            time.sleep(1)
    # fewer messages than landed: the lake is ahead of Kafka (or the id changed)
    produce(topics["geo"], [{"ind": 100}], partition=0)
    with pytest.raises(LandingRefused, match="recreated"):
        land_topic(kafka, file_lake, "geo")
    # more messages than landed: offsets alone look fine, the topic id gives it away
    produce(topics["geo"], [{"ind": 100 + i} for i in range(10)], partition=0)
    with pytest.raises(LandingRefused, match="recreated"):
        land_topic(kafka, file_lake, "geo")


def test_retention_deleting_unlanded_offsets_fails_the_landing(stack, file_lake, produce, admin):
    from kafka.admin import NewTopic

    from pinterest_assets.resources.kafka import KafkaResource

    topic = f"test.{uuid.uuid4().hex[:10]}.user"
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={
        "retention.ms": "1000", "segment.ms": "100"})], timeout_ms=30000)
    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics={"user": topic})
    produce(topic, [{"ind": i, "first_name": "x" * 200} for i in range(40)])
    deadline = time.monotonic() + 120
    while kafka.beginning_offsets([topic]).get((topic, 0), 0) == 0:
        assert time.monotonic() < deadline, "the broker never deleted the old segments"
        produce(topic, [{"ind": 999}])  # roll the active segment
        time.sleep(1)
    with pytest.raises(LandingRefused, match="retention"):
        land_topic(kafka, file_lake, "user")
    report = land_topic(kafka, file_lake, "user", accept_loss=True)
    assert report.accepted_loss and report.accepted_loss[0].reason == "retention"
    assert report.accepted_loss[0].first == 0


def test_a_missing_topic_fails_the_landing(stack, file_lake):
    from pinterest_assets.resources.kafka import KafkaResource

    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers,
                          topics={"pin": f"test.{uuid.uuid4().hex[:10]}.missing"})
    with pytest.raises(LandingRefused, match="does not exist"):
        land_topic(kafka, file_lake, "pin")


def test_a_dead_broker_fails_the_landing_quickly_naming_it(file_lake):
    import socket

    from pinterest_assets.resources.kafka import KafkaResource

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kafka = KafkaResource(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=2000, operation_timeout_s=5)
    started = time.monotonic()
    with pytest.raises(dg.Failure, match=f"127.0.0.1:{port}"):
        land_topic(kafka, file_lake, "pin")
    assert time.monotonic() - started < 60
