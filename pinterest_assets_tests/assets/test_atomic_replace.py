"""The cleaned day's atomic replace in its Iceberg tables (write-audit-publish), on a local folder
and on the real S3 server.

A process killed (SIGKILL) after any step of the write leaves each table (data, rejects) with the
old day whole or the new one whole, never none and never a mix, and a rerun completes. Until the
data is published readers see the old day; the rejects are published just before the data. A
failing blocking check publishes nothing.
"""

import json
import os
import signal
import subprocess
import sys

import dagster as dg
import pytest

from pinterest_assets.assets.cleaned import build_cleaned_asset
from pinterest_assets.assets.raw import build_raw_asset
from pinterest_assets.crash_hooks import CRASH_ENV
from pinterest_assets.io_managers.lake import CRASH_STEPS, cleaned_table, read_cleaned, read_cleaned_rejects
from pinterest_assets.settings import project_root
from pinterest_ingest.datagen import generate_pins
from pinterest_assets_tests.assets.conftest import day_ms, make_resources

pytestmark = pytest.mark.integration

DAY = "2025-06-11"
raw_pin, cleaned_pin = build_raw_asset("pin"), build_cleaned_asset("pin")


@pytest.fixture(params=["file", "s3a"])
def lake(request, file_lake, s3_lake):
    return file_lake if request.param == "file" else s3_lake


class Batches:
    """Events of DAY posted batch by batch, and the cleaned unit expected after each batch.

    Batch k posts 3 new pins, a new title for the first pin of batch 0 (``v<k>``, so a value
    changes, not only the key set) and one record with an invalid key (``bad-<k>``, a reject)."""

    def __init__(self, produce, topic: str):
        self.produce, self.topic = produce, topic
        self.titles: dict[str, str] = {}
        self.bad: list[str] = []
        self.k = -1
        self.first = None

    def post(self) -> None:
        self.k += 1
        pins = generate_pins(3, seed=500 + self.k)
        if self.first is None:
            self.first = pins[0]
        else:
            pins.append({**self.first, "title": f"v{self.k}"})
        pins.append({**pins[0], "unique_id": f"bad-{self.k}"})
        self.produce(self.topic, pins, key=lambda p: p["unique_id"], timestamp_ms=day_ms(DAY))
        for p in pins[:-1]:
            self.titles[p["unique_id"]] = p["title"]
        self.bad.append(f"bad-{self.k}")

    def expected(self) -> tuple:
        return sorted(self.titles.items()), sorted(self.bad)


def unit_seen(spark, lake) -> tuple | None:
    """What a reader sees of DAY: (sorted (unique_id, title), sorted reject keys); None = no table."""
    data = read_cleaned(spark, lake, "pin", [DAY])
    rejects = read_cleaned_rejects(spark, lake, "pin", [DAY])
    if data is None or rejects is None:
        return None
    assert {str(r.date) for r in data.select("date").distinct().collect()} <= {DAY}
    return (sorted((r.unique_id, r.title) for r in data.collect()),
            sorted(json.loads(r.raw)["unique_id"] for r in rejects.collect()))


def audit_branches(spark, lake) -> list[str]:
    """Branches other than main of the data and rejects tables (audit branches left behind)."""
    return sorted(f"{rejects}:{r.name}" for rejects in (False, True)
                  for r in spark.sql(f"SELECT name FROM {cleaned_table(lake, 'pin', rejects)}.refs").collect()
                  if r.name != "main")


def main_snapshot(spark, lake) -> int:
    return spark.sql(f"SELECT snapshot_id FROM {cleaned_table(lake, 'pin')}.refs WHERE name = 'main'").first()[0]


@pytest.mark.timeout(3000)  # five Spark processes killed on purpose, on a shared 2-core machine
def test_a_process_killed_at_any_step_leaves_the_old_or_the_new_unit_whole(stack, spark, kafka, lake,
                                                                           produce, topics):
    """Each run posts a new batch and is killed after one step; the next one starts from what the
    kill left behind (an unpublished audit branch, a published one not dropped yet), so a later run
    also proves that it completes from such a state. A last run completes and leaves no branch."""
    resources = make_resources(kafka, lake)
    batches = Batches(produce, topics["pin"])
    batches.post()
    assert dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY).success
    old = batches.expected()
    assert unit_seen(spark, lake) == old
    args = json.dumps({"lake": lake.uri, "s3_endpoint": lake.s3_endpoint_url, "day": DAY,
                       "bootstrap": kafka.bootstrap_servers, "topics": kafka.topics})

    for step in CRASH_STEPS:
        batches.post()
        new = batches.expected()
        before = main_snapshot(spark, lake)
        proc = subprocess.run([sys.executable, "-m", "pinterest_assets_tests.assets.crash_run", args],
                              cwd=project_root(), env={**os.environ, CRASH_ENV: step},
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == -signal.SIGKILL, f"{step}: rc {proc.returncode}\n{proc.stderr[-4000:]}"

        spark.catalog.clearCache()
        seen = unit_seen(spark, lake)
        if step in ("after_data", "after_rejects", "after_checks"):
            assert seen == old, step  # nothing published: the old day, whole
            assert main_snapshot(spark, lake) == before
            assert audit_branches(spark, lake), step  # the killed run's branch, unpublished
        elif step == "after_publish_rejects":
            assert seen == (old[0], new[1]), step  # rejects published, the data not yet
        elif step == "after_publish":
            assert seen == new, step
            assert audit_branches(spark, lake), step  # dropped only after the publish
        else:
            assert seen == new, step
            assert audit_branches(spark, lake) == [], step
        old = seen

    # a rerun completes; afterwards no audit branch is left
    assert dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY).success
    assert unit_seen(spark, lake) == batches.expected()
    assert audit_branches(spark, lake) == []


def test_a_failing_blocking_check_keeps_the_old_unit(stack, spark, kafka, lake, produce, topics, monkeypatch):
    import pinterest_assets.assets.cleaned as cleaned_module

    resources = make_resources(kafka, lake)
    batches = Batches(produce, topics["pin"])
    batches.post()
    assert dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY).success
    old = batches.expected()
    committed = main_snapshot(spark, lake)

    # a cleaning bug: the newest-per-key step lets every version through -> duplicate keys
    batches.post()
    monkeypatch.setattr(cleaned_module, "latest_per_key", lambda df, entity: df)
    result = dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY, raise_on_error=False)
    assert not result.success
    evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}["key_not_null_and_unique"]
    assert not evaluation.passed and evaluation.metadata["duplicate_keys"].value == 1
    failure = [e for e in result.all_events if e.is_step_failure][0]
    text = str(failure.event_specific_data.error)
    assert "key_not_null_and_unique" in text and "nothing was published" in text
    assert not result.asset_materializations_for_node("cleaned_pin")

    # readers still get the old data and the old rejects; main did not move, no branch is left
    assert unit_seen(spark, lake) == old
    assert main_snapshot(spark, lake) == committed and audit_branches(spark, lake) == []

    # the bug fixed, the rerun replaces the unit
    monkeypatch.undo()
    assert dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY).success
    assert unit_seen(spark, lake) == batches.expected()
    assert main_snapshot(spark, lake) != committed
