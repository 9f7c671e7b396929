"""The lake's atomic partition replace, on a local folder and on the real S3 server.

A cleaned partition (data + rejects + blocking check) is one unit: a process killed (SIGKILL) after
any step of the write leaves readers the old unit whole or the new one whole, never none and never
a mix, and a rerun completes. A failing blocking check leaves the old unit in place.
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
from pinterest_assets.io_managers.lake import CRASH_ENV, CRASH_STEPS, read_cleaned, read_cleaned_rejects
from pinterest_assets.resources.lake import LAYOUT
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
    """What a reader sees of DAY: (sorted (unique_id, title), sorted reject keys); None = nothing."""
    data = read_cleaned(spark, lake, "pin", [DAY])
    rejects = read_cleaned_rejects(spark, lake, "pin", [DAY])
    if data is None or rejects is None:
        return None
    assert {str(r.date) for r in data.select("date").distinct().collect()} <= {DAY}
    return (sorted((r.unique_id, r.title) for r in data.collect()),
            sorted(json.loads(r.raw)["unique_id"] for r in rejects.collect()))


def versions(lake) -> tuple[list[str], list[str]]:
    """Version folders present (data, rejects) for DAY."""
    return (lake.list_folders(LAYOUT.cleaned("pin", DAY)), lake.list_folders(LAYOUT.cleaned_rejects("pin", DAY)))


@pytest.mark.timeout(3000)  # five Spark processes killed on purpose, on a shared 2-core machine
def test_a_process_killed_at_any_step_leaves_the_old_or_the_new_unit_whole(stack, spark, kafka, lake,
                                                                           produce, topics):
    """Each run posts a new batch and is killed after one step; the next one starts from what the
    kill left behind (unreferenced versions, an old version not deleted yet), so a later run also
    proves that it completes from such a state. A last run completes and leaves one version."""
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
        before = lake.current_version(LAYOUT.cleaned("pin", DAY))
        proc = subprocess.run([sys.executable, "-m", "pinterest_assets_tests.assets.crash_run", args],
                              cwd=project_root(), env={**os.environ, CRASH_ENV: step},
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == -signal.SIGKILL, f"{step}: rc {proc.returncode}\n{proc.stderr[-4000:]}"

        seen = unit_seen(spark, lake)
        data_versions, reject_versions = versions(lake)
        current = lake.current_version(LAYOUT.cleaned("pin", DAY))
        if step in ("after_data", "after_rejects", "after_checks"):
            assert seen == old, step  # the pointer did not move: the old unit, whole
            assert current == before and current in data_versions and current in reject_versions
            assert max(data_versions) > current  # the killed run's version, unreferenced
        elif step == "after_pointer":
            assert seen == new, step  # the pointer moved: the new unit, whole
            assert current == max(data_versions) == max(reject_versions) > before
            assert before in data_versions and before in reject_versions  # deleted only after the pointer
        else:
            assert seen == new, step
            assert current > before
            # every older version is gone, the ones earlier kills left behind included
            assert (data_versions, reject_versions) == ([current], [current]), step
        old = seen

    # a rerun completes; afterwards only the committed version is left, data and rejects alike
    assert dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY).success
    assert unit_seen(spark, lake) == batches.expected()
    final = lake.current_version(LAYOUT.cleaned("pin", DAY))
    assert final > current and versions(lake) == ([final], [final])


def test_a_failing_blocking_check_keeps_the_old_unit(stack, spark, kafka, lake, produce, topics, monkeypatch):
    import pinterest_assets.assets.cleaned as cleaned_module

    resources = make_resources(kafka, lake)
    batches = Batches(produce, topics["pin"])
    batches.post()
    assert dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY).success
    old = batches.expected()
    committed = lake.current_version(LAYOUT.cleaned("pin", DAY))
    pointer = lake.read_text(LAYOUT.pointer(LAYOUT.cleaned("pin", DAY)))
    assert json.loads(pointer)["checks"]["key_not_null_and_unique"] is True

    # a cleaning bug: the newest-per-key step lets every version through -> duplicate keys
    batches.post()
    monkeypatch.setattr(cleaned_module, "latest_per_key", lambda df, entity: df)
    result = dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY, raise_on_error=False)
    assert not result.success
    evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}["key_not_null_and_unique"]
    assert not evaluation.passed and evaluation.metadata["duplicate_keys"].value == 1
    failure = [e for e in result.all_events if e.is_step_failure][0]
    text = str(failure.event_specific_data.error)
    assert "key_not_null_and_unique" in text and "previous version of the partition stays current" in text
    assert not result.asset_materializations_for_node("cleaned_pin")

    # readers still get the old data and the old rejects; the pointer and the folders are as before
    assert unit_seen(spark, lake) == old
    assert lake.read_text(LAYOUT.pointer(LAYOUT.cleaned("pin", DAY))) == pointer
    assert versions(lake) == ([committed], [committed])

    # the bug fixed, the rerun replaces the unit
    monkeypatch.undo()
    assert dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=DAY).success
    assert unit_seen(spark, lake) == batches.expected()
    assert versions(lake)[0] == [lake.current_version(LAYOUT.cleaned("pin", DAY))]
