"""The lake resource and the lake Parquet IO manager on a local folder and on the real S3 server."""

import dagster as dg
import pytest

from pinterest_assets.io_managers.lake import LakeParquetIOManager
from pinterest_assets.partitions import daily_partitions
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
        f"{lake.uri_of(asset)}/date={day}").collect())
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
    uri = result.asset_materializations_for_node("numbers")[0].metadata["uri"].value
    assert uri == f"{lake.uri_of('numbers')}/date=2026-01-01"
    # no staging leftovers visible to a reader of the whole asset
    whole = spark.read.parquet(lake.uri_of("numbers_copy"))
    assert sorted((r.id, str(r.date)) for r in whole.collect()) == [(3, "2026-01-02"), (7, "2026-01-01")]

    # an empty day keeps its schema and reads back as zero rows
    run("2026-01-03")
    empty = spark.read.parquet(f"{lake.uri_of('numbers_copy')}/date=2026-01-03")
    assert empty.count() == 0 and empty.columns == ["id", "name"]


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
