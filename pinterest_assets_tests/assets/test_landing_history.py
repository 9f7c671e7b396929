"""A partition's landed history must start at its recorded beginning and hold only what landings
wrote: lake tampering at the first, a middle or the last file of a history fails the next landing,
naming what is wrong and what to do (issue 24, class 3)."""

from __future__ import annotations

import dagster as dg
import pytest

from pinterest_assets.assets.raw import build_raw_asset
from pinterest_assets.landing.engine import land_topic
from pinterest_assets.landing.files import landed_files
from pinterest_assets.landing.history import LandingRefused
from pinterest_ingest.datagen import generate_pins
from pinterest_assets_tests.assets.conftest import accept_loss_then_land_again

pytestmark = pytest.mark.integration



@pytest.fixture
def history(kafka, file_lake, produce, topics):
    """30 pins landed on partition 0 in three files (offsets 0..9, 10..19, 20..29), 5 more produced."""
    produce(topics["pin"], generate_pins(30, seed=241), partition=0)
    land_topic(kafka, file_lake, "pin", max_records_per_file=10)
    files = [f for f in landed_files(file_lake, "pin") if f.partition == 0]
    assert [(f.first, f.last) for f in files] == [(0, 9), (10, 19), (20, 29)]
    produce(topics["pin"], generate_pins(5, seed=242), partition=0)
    return files


def path_of(lake, landed):
    return lake.store.root / landed.relpath


def test_deleting_the_first_file_fails_the_next_landing_until_accepted(kafka, file_lake, history):
    path_of(file_lake, history[0]).unlink()
    with pytest.raises(LandingRefused, match=r"offsets 0\.\.9 \(10, gap\).*accept_loss"):
        land_topic(kafka, file_lake, "pin")

    raw_pin = build_raw_asset("pin")
    refused = dg.materialize([raw_pin], resources={"kafka": kafka, "lake": file_lake}, raise_on_error=False)
    assert not refused.success
    [check] = refused.get_asset_check_evaluations()
    assert check.check_name == "no_unaccepted_loss" and not check.passed
    assert "offsets 0..9" in check.metadata["refused"].value
    assert max(f.last for f in landed_files(file_lake, "pin") if f.partition == 0) == 29  # nothing landed past it

    accept_loss_then_land_again(raw_pin, kafka, file_lake, lost=10, landed=5)


@pytest.mark.parametrize("position", [0, 1, 2], ids=["first", "middle", "last"])
def test_a_file_truncated_mid_line_fails_the_next_landing(kafka, file_lake, history, position):
    path = path_of(file_lake, history[position])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LandingRefused, match=rf"{path.name} holds {len(data) // 2} bytes, its name says "
                                             rf"{len(data)} \(truncated or changed\).*backup"):
        land_topic(kafka, file_lake, "pin")


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_a_foreign_file_in_the_raw_folder_fails_the_next_landing(kafka, file_lake, topics, history, position):
    folder = path_of(file_lake, history[0]).parent
    topic = topics["pin"]
    if position == "first":  # a copy of the head under a name without a size: overlaps it
        name, expected = f"{topic}-0-0-9.jsonl", "overlap"
        (folder / name).write_bytes(path_of(file_lake, history[0]).read_bytes())
    elif position == "middle":  # a name no landing writes
        name, expected = "notes.jsonl", "is not a file a landing writes"
        (folder / name).write_text('{"unique_id": "x"}\n')
    else:  # the next offsets, claimed by a file no landing wrote (Kafka holds 30..34)
        name, expected = f"{topic}-0-30-34.jsonl", "has no size in its name"
        (folder / name).write_text('{"unique_id": "forged"}\n' * 5)
    with pytest.raises(LandingRefused, match=expected) as refused:
        land_topic(kafka, file_lake, "pin")
    assert name in str(refused.value)


def test_the_last_file_deleted_while_kafka_holds_it_is_landed_again(kafka, file_lake, topics, history):
    path_of(file_lake, history[2]).unlink()
    report = land_topic(kafka, file_lake, "pin")
    assert report.total_records == 15 and not report.accepted_loss
    covered = sorted(o for f in landed_files(file_lake, "pin") if f.partition == 0 for o in range(f.first, f.last + 1))
    assert covered == list(range(35))
