"""The posting emulator: every record accounted for, and its report agrees with the topics."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from pinterest_ingest import emulator
from pinterest_assets.settings import project_root
from pinterest_assets_tests.conftest import free_port

pytestmark = pytest.mark.integration


def as_set(records) -> set:
    return {(r["topic"], r["key"], r["partition"], r["offset"]) for r in records}


def test_report_accepted_pairs_are_exactly_the_messages_in_the_topics(api_url, topics):
    before = topics.end_offsets()
    report = emulator.run(emulator.EmulatorConfig(url=api_url, count=60, concurrency=4, seed=5))
    summary = report.summary()
    assert summary["events"] == 60 and summary["sent"] == 180
    assert summary["accepted"] == {"pinterest.geo": 60, "pinterest.pin": 60, "pinterest.user": 60}
    assert summary["rejected"] == {} and summary["failed"] == 0 and summary["accounted"]

    messages = topics.read(before)
    in_topics = {(m.topic, m.key.decode(), m.partition, m.offset) for m in messages}
    assert as_set(report.accepted_records) == in_topics
    assert len(report.accepted_records) == len(messages) == 180


def test_sampling_is_with_replacement_and_seeded(api_url):
    config = emulator.EmulatorConfig(url=api_url, count=40, concurrency=1, seed=8)
    first = emulator.run(config, rows=_tiny_dataset(5))
    second = emulator.run(config, rows=_tiny_dataset(5))
    keys = [r["key"] for r in first.accepted_records if r["topic"] == "pinterest.geo"]
    assert len(keys) == 40 and len(set(keys)) <= 5  # the same ind posted many times
    assert keys == [r["key"] for r in second.accepted_records if r["topic"] == "pinterest.geo"]


def _tiny_dataset(n: int) -> dict:
    from pinterest_ingest import datagen

    data = datagen.generate(n, seed=2)
    return {"pin": {r["index"]: r for r in data["pin"]}, "geo": {r["ind"]: r for r in data["geo"]},
            "user": {r["ind"]: r for r in data["user"]}}


def test_a_users_csv_and_jsonl_folder_with_bad_rows(api_url, tmp_path):
    from pinterest_ingest import datagen

    data = datagen.generate(4, seed=3)
    data["pin"][2].pop("unique_id")  # the API will refuse this one with 422
    with (tmp_path / "pin.jsonl").open("w", encoding="utf-8") as f:
        for row in data["pin"]:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    for entity in ("geo", "user"):
        with (tmp_path / f"{entity}_export.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(data[entity][0]))
            writer.writeheader()
            writer.writerows(data[entity])
    rows = emulator.load_dataset(tmp_path)
    report = emulator.run(emulator.EmulatorConfig(url=api_url, count=30, concurrency=3, seed=1), rows=rows)
    summary = report.summary()
    assert summary["sent"] == 90 and summary["accounted"] and summary["failed"] == 0
    assert summary["rejected"].get("422 invalid_record", 0) >= 1
    assert summary["accepted"]["pinterest.geo"] == 30 and summary["accepted"]["pinterest.user"] == 30


def test_unreadable_dataset_names_file_and_line(tmp_path):
    (tmp_path / "pin.jsonl").write_text('{"index": 1, "unique_id": "a"}\n{oops\n')
    with pytest.raises(emulator.DatasetError, match=r"pin\.jsonl, line 2"):
        emulator.load_dataset(tmp_path)


def test_unreachable_api_is_retried_then_counted_failed_not_dropped():
    config = emulator.EmulatorConfig(url=f"http://127.0.0.1:{free_port()}", count=2, concurrency=2,
                                     retry_deadline=0.8, backoff_base=0.05, timeout=1)
    report = emulator.run(config, rows=_tiny_dataset(3))
    summary = report.summary()
    assert summary["sent"] == 6 and summary["failed"] == 6 and summary["accounted"]
    assert summary["retried"] >= 6
    assert list(summary["failures"]) == ["connection error: ConnectError"]


def test_cli_count_and_report_accounts_for_every_event(api_url, topics, tmp_path):
    before = topics.end_offsets()
    report_path = tmp_path / "r.json"
    result = subprocess.run(
        [sys.executable, "-m", "pinterest_platform.cli", "emulate", "--url", api_url, "--count", "25",
         "--concurrency", "4", "--rate", "200", "--report", str(report_path), "--no-progress"],
        cwd=project_root(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["events"] == 25 and report["sent"] == 75 and report["accounted"]
    assert report["accepted_total"] == 75 and report["failed"] == 0
    printed = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert printed["accepted"] == report["accepted"]
    in_topics = {(m.topic, m.key.decode(), m.partition, m.offset) for m in topics.read(before)}
    assert as_set(report["accepted_records"]) == in_topics


def test_rate_limit_is_respected(api_url):
    report = emulator.run(emulator.EmulatorConfig(url=api_url, count=20, rate=40, concurrency=4),
                          rows=_tiny_dataset(3))
    assert report.events == 20 and report.elapsed >= 19 / 40


def test_duration_stops_the_run(api_url):
    report = emulator.run(emulator.EmulatorConfig(url=api_url, duration=1.0, rate=10, concurrency=2),
                          rows=_tiny_dataset(3))
    summary = report.summary()
    assert 9 <= summary["events"] <= 11 and summary["accounted"] and summary["failed"] == 0
    assert report.elapsed < 3
