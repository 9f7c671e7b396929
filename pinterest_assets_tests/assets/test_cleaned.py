"""The daily cleaned assets with the real Kafka broker, Spark and the lake IO manager."""

import dagster as dg
import pytest

from pinterest_assets.assets.cleaned import build_cleaned_asset, build_cleaned_assets
from pinterest_assets.assets.raw import build_raw_asset, build_raw_assets
from pinterest_assets.io_managers.lake import read_cleaned_day
from pinterest_ingest.datagen import generate_geo, generate_pins, generate_users
from pinterest_assets_tests.assets.conftest import day_ms, today

pytestmark = pytest.mark.integration

OLD_DAY = "2025-03-01"
RAW_ASSETS, CLEANED_ASSETS = build_raw_assets(), build_cleaned_assets()
raw_pin, cleaned_pin = build_raw_asset("pin"), build_cleaned_asset("pin")


def read_day(spark, lake, asset: str, day: str):
    """The committed rows of a day of a cleaned asset (its Iceberg table's main)."""
    return read_cleaned_day(spark, lake, asset.removeprefix("cleaned_"), day)


def check_results(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def test_daily_cleaned_partition_holds_exactly_the_distinct_keys(spark, resources, file_lake, produce, topics):
    day = today()
    pins = generate_pins(30, seed=21)
    produce(topics["pin"], pins, key=lambda p: p["unique_id"])
    # five pins posted again later with a new title: the newest event must win
    reposted = [{**p, "title": f"Newest title {i}"} for i, p in enumerate(pins[:5])]
    produce(topics["pin"], reposted, key=lambda p: p["unique_id"])
    produce(topics["pin"], [{**pins[6], "unique_id": "not-a-uuid"}, {**pins[7], "unique_id": None}])
    # an older day's events stay out of today's partition
    old = generate_pins(3, seed=22)
    produce(topics["pin"], old, key=lambda p: p["unique_id"], timestamp_ms=day_ms(OLD_DAY))
    produce(topics["geo"], generate_geo(list(range(10)), seed=1) * 2, key=lambda g: str(g["ind"]))
    produce(topics["user"], generate_users(list(range(12)), seed=1), key=lambda u: str(u["ind"]))

    # raw_* (unpartitioned) and cleaned_* (daily) in one run, as daily_batch_job runs them
    assets = [*RAW_ASSETS, *CLEANED_ASSETS]
    result = dg.materialize(assets, resources=resources, partition_key=day)
    assert result.success

    clean = read_day(spark, file_lake, "cleaned_pin", day)
    rows = clean.collect()
    assert sorted(r.unique_id for r in rows) == sorted(p["unique_id"] for p in pins)
    titles = {r.unique_id: r.title for r in rows}
    assert all(titles[p["unique_id"]] == f"Newest title {i}" for i, p in enumerate(pins[:5]))
    assert {"_topic", "_partition", "_offset", "_timestamp"} <= set(clean.columns)
    assert read_day(spark, file_lake, "cleaned_geo", day).count() == 10
    assert sorted(r.ind for r in read_day(spark, file_lake, "cleaned_user", day).collect()) == list(range(12))

    rejects = read_cleaned_day(spark, file_lake, "pin", day, rejects=True).collect()
    assert sorted(r.reason for r in rejects) == ["invalid_unique_id", "invalid_unique_id"]

    md = result.asset_materializations_for_node("cleaned_pin")[0].metadata
    assert md["dagster/row_count"].value == 30
    assert md["raw_records"].value == 37
    assert md["rejects_by_reason"].value == {"invalid_unique_id": 2}
    assert md["duplicates_dropped"].value == 5
    assert set(md["nulls_per_column"].value) >= {"unique_id", "title", "follower_count"}
    assert md["nulls_per_column"].value["unique_id"] == 0
    assert md["preview"].value.startswith("| ind | unique_id |")
    checks = check_results(result)
    # 8 on the cleaned assets, plus no_unaccepted_loss on each raw asset
    assert len(checks) == 11 and all(c.passed for c in checks.values())
    assert {name for (asset, name) in checks if asset.startswith("raw_")} == {"no_unaccepted_loss"}

    # the raw files of today were landed by the same run (raw_* upstream), the old day's too
    assert file_lake.list_files(f"raw/pin/date={OLD_DAY}")

    # re-running the day changes nothing
    again = dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=day)
    assert again.success
    assert sorted(tuple(r) for r in read_day(spark, file_lake, "cleaned_pin", day).collect()) == sorted(
        tuple(r) for r in rows)

    # the older day is its own partition
    dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=OLD_DAY)
    assert sorted(r.unique_id for r in read_day(spark, file_lake, "cleaned_pin", OLD_DAY).collect()) == sorted(
        p["unique_id"] for p in old)


def test_a_day_without_events_is_empty_and_checks_pass(spark, resources, file_lake, topics):
    day = "2025-01-02"
    result = dg.materialize([raw_pin, cleaned_pin], resources=resources, partition_key=day)
    assert result.success
    empty = read_day(spark, file_lake, "cleaned_pin", day)
    assert empty.count() == 0 and "unique_id" in empty.columns
    assert all(c.passed for c in check_results(result).values())


def test_daily_batch_job_fills_the_lake_and_postgres_with_the_distinct_keys(stack, spark, kafka, file_lake,
                                                                            produce, topics):
    """daily_batch_job as wired in definitions.py (Postgres side included), on its own topics and lake."""
    from pinterest_assets.assets.raw import build_topic_specs
    from pinterest_assets.assets.serving import build_table_assets
    from pinterest_assets.definitions import build_resources
    from pinterest_assets.jobs import build_daily_batch_job
    from pinterest_assets_tests.assets.conftest import make_resources

    day = "2025-07-19"  # a day no other test writes, so the Postgres partition is ours
    at = day_ms(day)
    pins = generate_pins(20, seed=31)
    produce(topics["pin"], pins + [{**p, "title": "again"} for p in pins[:3]], key=lambda p: p["unique_id"],
            timestamp_ms=at)
    produce(topics["geo"], generate_geo(list(range(5)), seed=2), timestamp_ms=at)
    produce(topics["user"], generate_users(list(range(6)), seed=2), timestamp_ms=at)

    resources = {**build_resources(stack), **make_resources(kafka, file_lake)}
    defs = dg.Definitions(assets=[*build_topic_specs(), *RAW_ASSETS, *CLEANED_ASSETS, *build_table_assets()],
                          jobs=[build_daily_batch_job()],
                          resources=resources)
    job = defs.resolve_job_def("daily_batch_job")

    def counts():
        out = {}
        with resources["postgres"].connect() as conn:
            for entity, key in (("pin", "unique_id"), ("geo", "ind"), ("user", "ind")):
                out[entity] = conn.execute(
                    f"SELECT count(*), count(DISTINCT {key}) FROM pinterest.{entity}_table WHERE date = %s",
                    (day,)).fetchone()
        return out

    assert job.execute_in_process(partition_key=day).success
    expected = {"pin": (20, 20), "geo": (5, 5), "user": (6, 6)}
    assert counts() == expected
    assert read_day(spark, file_lake, "cleaned_pin", day).count() == 20
    with resources["postgres"].connect() as conn:
        titles = dict(conn.execute("SELECT unique_id, title FROM pinterest.pin_table WHERE date = %s",
                                   (day,)).fetchall())
    assert all(titles[p["unique_id"]] == "again" for p in pins[:3])

    # a second run of the day changes no count
    assert job.execute_in_process(partition_key=day).success
    assert counts() == expected
