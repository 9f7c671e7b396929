"""Raw landing against the real Kafka broker: exactly the produced records, once, crash or not."""

from __future__ import annotations

from collections import Counter

import dagster as dg
import pytest

from pinterest_assets.assets.raw import build_raw_asset
from pinterest_assets.landing.engine import land_topic
from pinterest_assets.landing.files import landed_files

raw_pin, raw_user = build_raw_asset("pin"), build_raw_asset("user")
from pinterest_ingest.datagen import generate_pins
from pinterest_assets_tests.assets.conftest import day_ms, lake_lines

pytestmark = pytest.mark.integration


def offsets_by_partition(lake, entity) -> dict[tuple[str, int], list[int]]:
    """Every offset covered by a landed file (raw or quarantine), per topic-partition, in file order."""
    covered: dict[tuple[str, int], list[int]] = {}
    for f in landed_files(lake, entity):
        covered.setdefault((f.topic, f.partition), []).extend(range(f.first, f.last + 1))
    return covered


def assert_exactly_once(lake, entity, ends: dict[tuple[str, int], int]):
    """The files cover offsets 0..end-1 of every partition, each exactly once."""
    covered = offsets_by_partition(lake, entity)
    for tp, end in ends.items():
        offsets = covered.get(tp, [])
        assert sorted(offsets) == list(range(end)), f"{tp}: gap or duplicate in {sorted(offsets)}"


def test_lands_every_record_once_with_lineage_and_quarantine(kafka, file_lake, produce, topics):
    resources = {"kafka": kafka, "lake": file_lake}
    pins = generate_pins(60, seed=5)
    produce(topics["pin"], pins, key=lambda p: p["unique_id"])
    old_day = produce(topics["pin"], pins[:4], key=lambda p: p["unique_id"], timestamp_ms=day_ms("2025-03-01"))
    bad = produce(topics["pin"], ["not json {", "[1, 2]", b"\xff\xfe", "NaN"], partition=1)

    result = dg.materialize([raw_pin], resources=resources)
    assert result.success
    md = result.asset_materializations_for_node("raw_pin")[0].metadata
    assert md["records_landed"].value == 64
    assert md["records_quarantined"].value == 4
    assert "2025-03-01" in md["dates_touched"].value

    ends = kafka.end_offsets([topics["pin"]])
    assert sum(ends.values()) == 68
    assert_exactly_once(file_lake, "pin", ends)

    lines = lake_lines(file_lake, "raw/pin")
    assert Counter(r["unique_id"] for r in lines) == Counter(p["unique_id"] for p in pins + pins[:4])
    assert all(r["_topic"] == topics["pin"] and isinstance(r["_offset"], int) for r in lines)
    old = lake_lines(file_lake, "raw/pin/date=2025-03-01")
    assert sorted((r["_partition"], r["_offset"]) for r in old) == sorted(old_day)
    assert all(r["_timestamp"].startswith("2025-03-01T12:00:00") for r in old)
    # a landed line keeps the message's own values
    first = next(r for r in lines if r["unique_id"] == pins[0]["unique_id"])
    assert first["title"] == pins[0]["title"] and first["follower_count"] == pins[0]["follower_count"]

    quarantined = lake_lines(file_lake, "quarantine/raw/pin")
    assert sorted((r["_partition"], r["_offset"]) for r in quarantined) == sorted(bad)
    assert sorted(r["reason"] for r in quarantined) == ["not_a_json_object", "not_json", "not_json", "not_utf8"]

    # nothing new: a second landing writes nothing and changes nothing
    before = file_lake.list_files("")
    again = dg.materialize([raw_pin], resources=resources)
    assert again.asset_materializations_for_node("raw_pin")[0].metadata["records_landed"].value == 0
    assert file_lake.list_files("") == before


def test_crash_midway_then_rerun_leaves_no_duplicate_and_no_gap(kafka, file_lake, produce, topics):
    pins = generate_pins(50, seed=9)
    produce(topics["pin"], pins, key=lambda p: p["unique_id"])

    class Crash(Exception):
        pass

    written = []

    def crash_after_two_files(landed):
        written.append(landed)
        if len(written) == 2:
            raise Crash("simulated crash after the second file")

    with pytest.raises(Crash):
        land_topic(kafka, file_lake, "pin", max_records_per_file=7, on_file_written=crash_after_two_files)
    assert len(landed_files(file_lake, "pin")) == 2
    partial = sum(f.last - f.first + 1 for f in landed_files(file_lake, "pin"))
    assert 2 <= partial <= 14

    # more events arrive while "down", then the landing runs again
    more = generate_pins(10, seed=10)
    produce(topics["pin"], more, key=lambda p: p["unique_id"])
    report = land_topic(kafka, file_lake, "pin", max_records_per_file=7)
    assert report.total_records == 60 - partial

    assert_exactly_once(file_lake, "pin", kafka.end_offsets([topics["pin"]]))
    landed = [r["unique_id"] for r in lake_lines(file_lake, "raw/pin")]
    assert Counter(landed) == Counter(p["unique_id"] for p in pins + more)


def test_a_killed_landing_process_resumes_exactly(kafka, file_lake, produce, topics, tmp_path):
    """SIGKILL a real landing process mid-way (between files), then land again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    users = [{"ind": i, "first_name": f"F{i}", "last_name": "L", "age": 30, "date_joined": "2016-01-01 00:00:00"}
             for i in range(40)]
    produce(topics["user"], users, key=lambda u: str(u["ind"]))
    progress = tmp_path / "progress"
    script = f"""
import time
from pinterest_assets.landing.engine import land_topic
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LakeResource
kafka = KafkaResource(bootstrap_servers={kafka.bootstrap_servers!r}, topics={dict(kafka.topics)!r})
lake = LakeResource(uri={file_lake.uri!r})
def slow(landed):
    with open({str(progress)!r}, "a") as f:
        f.write(landed.relpath + "\\n")
    time.sleep(0.5)
land_topic(kafka, lake, "user", max_records_per_file=3, on_file_written=slow)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not progress.exists() or len(progress.read_text().split()) < 3):
        assert proc.poll() is None, "the landing process ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = landed_files(file_lake, "user")
    assert 3 <= len(partial) < 14, "the kill should land mid-way"

    result = dg.materialize([raw_user], resources={"kafka": kafka, "lake": file_lake})
    assert result.success
    assert_exactly_once(file_lake, "user", kafka.end_offsets([topics["user"]]))
    assert sorted(r["ind"] for r in lake_lines(file_lake, "raw/user")) == list(range(40))


def test_landing_on_s3(kafka, s3_lake, produce, topics):
    pins = generate_pins(20, seed=3)
    produce(topics["pin"], pins, key=lambda p: p["unique_id"])
    produce(topics["pin"], ["{broken"], partition=0)
    first = land_topic(kafka, s3_lake, "pin")
    assert (first.total_records, first.total_quarantined) == (20, 1)
    assert land_topic(kafka, s3_lake, "pin").total_records == 0
    assert_exactly_once(s3_lake, "pin", kafka.end_offsets([topics["pin"]]))
    assert Counter(r["unique_id"] for r in lake_lines(s3_lake, "raw/pin")) == Counter(p["unique_id"] for p in pins)
