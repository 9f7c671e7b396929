"""Reconcile checks values: it passes on a real run with updates, and it names a corrupted value
and a deleted row exactly (real Kafka, Spark, lake and Postgres)."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from pinterest_assets import entities as registry
from pinterest_assets.settings import Settings, project_root
from pinterest_platform.reconcile import clean, describe, reconcile

pytestmark = pytest.mark.integration


def stages(rows) -> dict:
    return {(r.entity, r.stage): r for r in rows}


def newest_per_key(records: list[dict], topic: str) -> dict[str, dict]:
    """Per key, its record with the highest (partition, offset): log order decides."""
    newest: dict[str, dict] = {}
    for r in records:
        if r["topic"] == topic:
            current = newest.get(r["key"])
            if current is None or (r["partition"], r["offset"]) > (current["partition"], current["offset"]):
                newest[r["key"]] = r
    return newest


def test_emulator_posts_the_updates_interleaved_with_versions_recorded(reconcile_run):
    report, summary = reconcile_run.report, reconcile_run.report.summary()
    assert summary["events"] == 40 and summary["updates"] == 30 and summary["sent"] == 70 * 3
    for topic in ("pinterest.pin", "pinterest.geo", "pinterest.user"):
        records = [r for r in report.accepted_records if r["topic"] == topic]
        assert len(records) == 70
        assert {"topic", "key", "partition", "offset", "version"} <= set(records[0])
        updates = [r for r in records if r["version"] > 0]
        assert len(updates) == 30
        originals = {r["key"] for r in records if r["version"] == 0}
        assert {r["key"] for r in updates} <= originals  # only keys already posted are updated
        # every version of a key shares its partition (the API keys by the normalised key)
        partitions: dict = {}
        for r in records:
            partitions.setdefault(r["key"], set()).add(r["partition"])
        assert all(len(p) == 1 for p in partitions.values())
    # interleaved: the first record is an original, and originals follow some updates
    pins = [r for r in report.accepted_records if r["topic"] == "pinterest.pin"]
    order = [r["version"] > 0 for r in sorted(pins, key=lambda r: (r["partition"], r["offset"]))]
    assert any(order) and not all(order)


def test_everything_matches_stage_by_stage_value_by_value(reconcile_run, spark):
    rows = reconcile(reconcile_run.records, Settings(), spark)
    assert clean(rows), describe(rows)
    by = stages(rows)
    for entity in registry.names():
        for stage in ("in Kafka", "landed raw", "cleaned (lake)", f"Postgres {entity}_table"):
            row = by[(entity, stage)]
            assert row.expected > 0 and row.found == row.expected, describe(rows)
            assert (row.lost, row.duplicated, row.stale) == (0, 0, 0)
    pins = newest_per_key(reconcile_run.records, "pinterest.pin")
    valid = {k for k in pins if k != "not-a-uuid-801"}
    assert by[("pin", "Postgres pin_stream")].expected == len(valid) == by[("pin", "Postgres pin_stream")].found
    # the one pin the cleaning rejects is expected (and found) in both rejects, not dropped
    for stage in ("cleaning rejects (lake)", "Postgres pin_stream_rejects"):
        assert (by[("pin", stage)].expected, by[("pin", stage)].found) == (1, 1), describe(rows)
    assert "1 keys whose newest event was rejected" in by[("pin", "cleaning rejects (lake)")].note

    # the newest version won: pin_stream holds the title of each key's highest offset
    with psycopg.connect(Settings().postgres_dsn) as conn:
        titles = dict(conn.execute("select unique_id, title from pinterest.pin_stream where unique_id = any(%s)",
                                   (sorted(valid),)).fetchall())
    updated = {k: r["version"] for k, r in pins.items() if r.get("version", 0) > 0}
    assert updated, "no key's newest event is an update"
    for key, version in updated.items():
        assert titles[key].endswith(f"(update {version})"), (key, titles[key])
    for key in valid - set(updated):
        assert "(update " not in (titles[key] or ""), (key, titles[key])


def test_a_corrupted_value_and_a_deleted_row_are_reported_exactly(reconcile_run, spark):
    pins = newest_per_key(reconcile_run.records, "pinterest.pin")
    updated = sorted(k for k, r in pins.items() if r.get("version", 0) > 0)
    corrupted_key = updated[0]
    deleted_key = sorted(k for k in pins if k not in (corrupted_key, "not-a-uuid-801"))[0]
    dsn = Settings().postgres_dsn
    with psycopg.connect(dsn) as conn:
        date, title = conn.execute(
            "select date, title from pinterest.pin_table where unique_id = %s order by date desc limit 1",
            (corrupted_key,)).fetchone()
        conn.execute("update pinterest.pin_table set title = 'corrupted by the test' "
                     "where unique_id = %s and date = %s", (corrupted_key, date))
        cursor = conn.execute("delete from pinterest.pin_stream where unique_id = %s returning *", (deleted_key,))
        deleted = cursor.fetchone()
        columns = [c.name for c in cursor.description]
    assert deleted is not None
    try:
        rows = reconcile(reconcile_run.records, Settings(), spark)
    finally:
        with psycopg.connect(dsn) as conn:
            conn.execute("update pinterest.pin_table set title = %s where unique_id = %s and date = %s",
                         (title, corrupted_key, date))
            conn.execute(f"insert into pinterest.pin_stream ({', '.join(columns)}) "
                         f"values ({', '.join(['%s'] * len(columns))})", deleted)
    assert not clean(rows)
    by = stages(rows)
    table, stream = by[("pin", "Postgres pin_table")], by[("pin", "Postgres pin_stream")]
    assert (table.lost, table.duplicated, table.stale) == (0, 0, 1), describe(rows)
    assert (stream.lost, stream.duplicated, stream.stale) == (1, 0, 0), describe(rows)
    assert stream.found == stream.expected - 1
    # one example diff, naming the key, the column, the expected and the found value
    assert len(table.examples) == 1, table.examples
    example = table.examples[0]
    assert corrupted_key in example and "title: expected" in example and "corrupted by the test" in example
    assert title in example or title[:60] in example
    # nothing else moved
    others = [r for r in rows if r is not table and r is not stream]
    assert all(r.ok for r in others), describe(rows)


def test_emulate_cli_refuses_updates_without_events():
    result = subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "emulate", "--count", "0",
                             "--updates", "3", "--url", "http://127.0.0.1:9"],
                            cwd=project_root(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--updates needs at least one event" in result.stderr
    assert "Traceback" not in result.stderr
