"""A backfill of several days in one run (BackfillPolicy) equals one run per day, lake and Postgres."""

import uuid

import dagster as dg
import pytest

from pinterest_assets.assets.cleaned import build_cleaned_asset
from pinterest_assets.assets.raw import build_raw_asset
from pinterest_assets.assets.serving import build_table_asset
from pinterest_assets.io_managers.postgres import PostgresIOManager
from pinterest_assets.partitions import DAILY_BACKFILL_POLICY
from pinterest_assets.resources.postgres import PostgresResource
from pinterest_assets.resources.spark_resource import SparkResource
from pinterest_assets_tests.assets.conftest import day_ms, make_resources
from pinterest_ingest.datagen import generate_pins

pytestmark = pytest.mark.integration

DAYS = ["2025-04-10", "2025-04-11", "2025-04-12"]
RANGE_TAGS = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}


def test_the_daily_assets_backfill_many_days_per_run():
    for spec in (build_cleaned_asset("pin"), build_table_asset("pin")):
        assert spec.backfill_policy == DAILY_BACKFILL_POLICY
    assert DAILY_BACKFILL_POLICY.max_partitions_per_run >= 30  # a 30-day backfill is one run


def test_a_three_day_range_in_one_run_equals_three_single_day_runs(stack, spark, kafka, topics, produce, tmp_path):
    pins = generate_pins(24, seed=7)
    for i, day in enumerate(DAYS):  # 8 pins a day; pin 0 is posted again every day with a new title
        produce(topics["pin"], pins[8 * i:8 * (i + 1)], key=lambda p: p["unique_id"], timestamp_ms=day_ms(day))
        produce(topics["pin"], [{**pins[0], "title": f"again on {day}"}], key=lambda p: p["unique_id"],
                timestamp_ms=day_ms(day, hour=13))
    produce(topics["pin"], [{**pins[1], "unique_id": "not-a-uuid"}], timestamp_ms=day_ms(DAYS[1]))
    assets = [build_raw_asset("pin"), build_cleaned_asset("pin"), build_table_asset("pin")]
    postgres = PostgresResource(dsn=stack.postgres_dsn)

    def resources(name: str):
        from pinterest_assets.resources.lake import LakeResource

        lake = LakeResource(uri=(tmp_path / name).as_uri())
        schema = f"backfill_{name}_{uuid.uuid4().hex[:8]}"
        return lake, schema, {**make_resources(kafka, lake), "postgres_io_manager": PostgresIOManager(
            postgres=postgres, pyspark=SparkResource(), schema_name=schema)}

    range_lake, range_schema, range_resources = resources("range")
    one_run = dg.materialize(assets, resources=range_resources, tags=RANGE_TAGS)
    assert one_run.success
    assert sorted(m.partition for m in one_run.asset_materializations_for_node("pin_table")) == DAYS
    assert sorted(m.partition for m in one_run.asset_materializations_for_node("cleaned_pin")) == DAYS
    table_meta = one_run.asset_materializations_for_node("pin_table")[0].metadata
    assert table_meta["partition"].value == f"{DAYS[0]}..{DAYS[-1]} (3 days)"
    checks = one_run.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)

    daily_lake, daily_schema, daily_resources = resources("daily")
    for day in DAYS:
        assert dg.materialize(assets, resources=daily_resources, partition_key=day).success

    def table(schema: str) -> list[tuple]:
        with postgres.connect() as conn:
            return conn.execute(f'SELECT * FROM "{schema}".pin_table ORDER BY date, unique_id').fetchall()

    def lake_rows(lake, day: str) -> list[tuple]:
        from pinterest_assets.io_managers.lake import read_cleaned_day

        return sorted(tuple(r) for r in read_cleaned_day(spark, lake, "pin", day).collect())

    rows = table(range_schema)
    assert rows == table(daily_schema)
    assert len(rows) == 24 + 2  # pin 0 on each of the 3 days
    for day in DAYS:
        assert lake_rows(range_lake, day) == lake_rows(daily_lake, day)

    # the range again: the same rows (its days replaced in one transaction, nothing doubled)
    assert dg.materialize(assets[1:], resources=range_resources, tags=RANGE_TAGS).success
    assert table(range_schema) == rows
    with postgres.connect() as conn:
        for schema in (range_schema, daily_schema):
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
