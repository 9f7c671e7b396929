"""The lake resource and the lake Parquet IO manager on a local folder and on the real S3 server."""

import json

import dagster as dg
import pytest

from pinterest_assets.io_managers.lake import LakeParquetIOManager, read_partitions
from pinterest_assets.partitions import daily_partitions
from pinterest_assets.resources.lake import LAYOUT
from pinterest_assets.resources.spark_resource import SparkResource

pytestmark = pytest.mark.integration


@pytest.fixture(params=["file", "s3a"])
def lake(request, file_lake, s3_lake):
    return file_lake if request.param == "file" else s3_lake


def test_small_files_round_trip(lake):
    lake.write_text("raw/pin/date=2026-01-01/t-0-0-1.jsonl", '{"a": "é"}\n')
    lake.write_text("raw/pin/date=2026-01-02/t-0-2-2.jsonl", "{}\n")
    lake.write_text("raw/pin/date=2026-01-02/_SUCCESS", "")
    assert lake.list_files("raw/pin") == ["raw/pin/date=2026-01-01/t-0-0-1.jsonl",
                                          "raw/pin/date=2026-01-02/t-0-2-2.jsonl"]
    assert lake.list_files("raw/pin/date=2026-01-02") == ["raw/pin/date=2026-01-02/t-0-2-2.jsonl"]
    assert lake.list_files("raw/nothing") == []
    assert lake.read_text("raw/pin/date=2026-01-01/t-0-0-1.jsonl") == '{"a": "é"}\n'
    lake.write_text("raw/pin/date=2026-01-01/t-0-0-1.jsonl", "replaced\n")
    assert lake.read_text("raw/pin/date=2026-01-01/t-0-0-1.jsonl") == "replaced\n"
    assert lake.uri_of("raw/pin").startswith(("file:///", "s3a://"))


ROWS = {"2026-01-01": [(1, "ä"), (2, "b")], "2026-01-02": [(3, "c")]}


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io_manager")
def numbers(context: dg.AssetExecutionContext, pyspark: SparkResource):
    rows = ROWS.get(context.partition_key, [])
    return pyspark.spark_session.createDataFrame(rows, "id long, name string")


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io_manager")
def numbers_copy(numbers):
    return numbers


def test_io_manager_round_trip_replaces_only_its_partition(spark, lake):
    spark_resource = SparkResource()
    resources = {"pyspark": spark_resource, "lake_io_manager": LakeParquetIOManager(lake=lake, pyspark=spark_resource)}

    def run(partition):
        result = dg.materialize([numbers, numbers_copy], resources=resources, partition_key=partition)
        assert result.success
        return result

    run("2026-01-01")
    run("2026-01-02")
    read = lambda asset, day: sorted(tuple(r) for r in spark.read.parquet(  # noqa: E731
        lake.uri_of(lake.current_path(LAYOUT.asset([asset], day)))).collect())
    first_version = lake.current_version("numbers/date=2026-01-01")
    assert LAYOUT.is_version(first_version)
    assert json.loads(lake.read_text("numbers/date=2026-01-01/_CURRENT"))["version"] == first_version
    assert read("numbers_copy", "2026-01-01") == ROWS["2026-01-01"]
    assert read("numbers_copy", "2026-01-02") == ROWS["2026-01-02"]

    # new data for day 1: day 1 replaced (not appended), day 2 untouched
    ROWS["2026-01-01"] = [(7, "z")]
    try:
        result = run("2026-01-01")
    finally:
        ROWS["2026-01-01"] = [(1, "ä"), (2, "b")]
    assert read("numbers", "2026-01-01") == [(7, "z")]
    assert read("numbers_copy", "2026-01-01") == [(7, "z")]
    assert read("numbers_copy", "2026-01-02") == ROWS["2026-01-02"]
    md = result.asset_materializations_for_node("numbers")[0].metadata
    new_version = lake.current_version("numbers/date=2026-01-01")
    assert new_version > first_version and md["version"].value == new_version
    assert md["uri"].value == f"{lake.uri_of('numbers')}/date=2026-01-01/{new_version}"
    # the old version is gone once the pointer moved: one version per partition, nothing else
    assert lake.list_folders("numbers/date=2026-01-01") == [new_version]
    assert lake.list_folders("numbers") == ["date=2026-01-01", "date=2026-01-02"]
    # the whole asset through the pointers, with the date column
    whole = read_partitions(spark, {d: lake.uri_of(LAYOUT.version(f"numbers_copy/date={d}", v))
                                    for d, v in lake.current_partitions("numbers_copy").items()})
    assert sorted((r.id, str(r.date)) for r in whole.collect()) == [(3, "2026-01-02"), (7, "2026-01-01")]

    # an empty day keeps its schema and reads back as zero rows
    run("2026-01-03")
    empty = spark.read.parquet(lake.uri_of(lake.current_path("numbers_copy/date=2026-01-03")))
    assert empty.count() == 0 and empty.columns == ["id", "name"]


TWO_DAYS = dg.StaticPartitionsDefinition(["2026-03-01", "2026-03-02"])


@dg.asset(partitions_def=TWO_DAYS, io_manager_key="lake_io_manager")
def letters(context: dg.AssetExecutionContext, pyspark: SparkResource):
    rows = {"2026-03-01": [(1, "a"), (2, "b")], "2026-03-02": [(3, "c")]}[context.partition_key]
    return pyspark.spark_session.createDataFrame(rows, "id long, name string")


@dg.asset(ins={"letters": dg.AssetIn(partition_mapping=dg.AllPartitionMapping())},
          io_manager_key="lake_io_manager")
def letters_all(letters):
    return letters


def test_a_range_of_partitions_loads_through_the_pointers_with_a_date_column(spark, lake):
    spark_resource = SparkResource()
    resources = {"pyspark": spark_resource, "lake_io_manager": LakeParquetIOManager(lake=lake, pyspark=spark_resource)}
    for day in ("2026-03-01", "2026-03-02", "2026-03-02"):  # the second day twice: a replace in between
        assert dg.materialize([letters], resources=resources, partition_key=day).success
    assert dg.materialize([letters, letters_all], selection=[letters_all], resources=resources).success
    # unpartitioned: the asset folder itself is versioned
    assert LAYOUT.is_version(lake.current_version("letters_all"))
    rows = spark.read.parquet(lake.uri_of(lake.current_path("letters_all"))).collect()
    assert sorted((r.id, r.name, str(r.date)) for r in rows) == [
        (1, "a", "2026-03-01"), (2, "b", "2026-03-01"), (3, "c", "2026-03-02")]


def test_a_partition_written_before_versioning_is_read_then_replaced(spark, lake):
    """Parquet straight in ``date=…/`` (the earlier layout) reads as it is, and the first versioned
    write replaces it: the old files are deleted once the pointer moved."""
    spark_resource = SparkResource()
    resources = {"pyspark": spark_resource, "lake_io_manager": LakeParquetIOManager(lake=lake, pyspark=spark_resource)}
    spark.createDataFrame([(9, "old")], "id long, name string").write.parquet(
        lake.uri_of("numbers/date=2026-01-01"))
    assert lake.current_version("numbers/date=2026-01-01") == ""
    copy = dg.materialize([numbers, numbers_copy], selection=[numbers_copy], resources=resources,
                          partition_key="2026-01-01")
    assert copy.success
    assert [tuple(r) for r in spark.read.parquet(
        lake.uri_of(lake.current_path("numbers_copy/date=2026-01-01"))).collect()] == [(9, "old")]
    assert dg.materialize([numbers], resources=resources, partition_key="2026-01-01").success
    version = lake.current_version("numbers/date=2026-01-01")
    assert LAYOUT.is_version(version)
    assert lake.list_files("numbers/date=2026-01-01") == [
        f for f in lake.list_files("numbers/date=2026-01-01") if f.startswith(f"numbers/date=2026-01-01/{version}/")]
    assert sorted(tuple(r) for r in spark.read.parquet(
        lake.uri_of(lake.current_path("numbers/date=2026-01-01"))).collect()) == ROWS["2026-01-01"]


def test_loading_a_missing_partition_names_it(spark, file_lake):
    spark_resource = SparkResource()
    manager = LakeParquetIOManager(lake=file_lake, pyspark=spark_resource)
    resources = {"pyspark": spark_resource, "lake_io_manager": manager}
    result = dg.materialize([numbers, numbers_copy], selection=[numbers_copy], resources=resources,
                            partition_key="2026-02-01", raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    text = str(failure.event_specific_data.error)
    assert "no data for numbers" in text and "date=2026-02-01" in text


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io_manager",
          backfill_policy=dg.BackfillPolicy.single_run())
def days_range(context: dg.AssetExecutionContext, pyspark: SparkResource):
    rows = [(i, day) for i, day in enumerate(context.partition_keys)] + [(9, context.partition_keys[0])]
    return pyspark.spark_session.createDataFrame(rows, "id long, date string")


def test_an_output_of_several_days_replaces_each_day_by_its_date_column(spark, file_lake):
    """A single-run backfill: one frame with a `date` column, one atomic replace per day."""
    spark_resource = SparkResource()
    resources = {"pyspark": spark_resource,
                 "lake_io_manager": LakeParquetIOManager(lake=file_lake, pyspark=spark_resource)}
    days = ["2026-02-01", "2026-02-02", "2026-02-03"]
    tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    result = dg.materialize([days_range], resources=resources, tags=tags)
    assert result.success
    assert sorted(m.partition for m in result.asset_materializations_for_node("days_range")) == days
    for i, day in enumerate(days):
        rows = spark.read.parquet(file_lake.uri_of(file_lake.current_path(LAYOUT.asset(["days_range"], day))))
        assert rows.columns == ["id"]
        assert sorted(r.id for r in rows.collect()) == ([0, 9] if i == 0 else [i])
        assert LAYOUT.is_version(file_lake.current_version(f"days_range/date={day}"))
