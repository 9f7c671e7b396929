"""The cleaned layer is an open lake: a reader without this project's code (pyiceberg from the JDBC
catalog in PostgreSQL, and DuckDB through it) reads exactly the committed rows of each day, a day
reads as of an earlier snapshot, and lake_maintenance compacts and expires on the same tables."""

import os
import uuid

import dagster as dg
import psycopg
import pytest

from pinterest_assets import entities as registry
from pinterest_assets.assets.cleaned import build_cleaned_asset
from pinterest_assets.assets.maintenance import lake_maintenance
from pinterest_assets.assets.raw import build_raw_asset
from pinterest_assets.assets.serving import build_table_asset
from pinterest_assets.io_managers.postgres import PostgresIOManager
from pinterest_assets.resources.postgres import PostgresResource
from pinterest_assets.resources.spark_resource import SparkResource
from pinterest_assets_tests.assets.conftest import day_ms, make_resources
from pinterest_ingest.datagen import generate_geo, generate_pins, generate_users

pytestmark = pytest.mark.integration

DAY = "2025-07-01"


@pytest.fixture(params=["file", "s3a"])
def lake(request, file_lake, s3_lake):
    return file_lake if request.param == "file" else s3_lake


def pyiceberg_catalog(stack, lake):
    """pyiceberg's SQL catalog on the stack's PostgreSQL: only the catalog name, the DSN (schema
    ``iceberg``) and the S3 endpoint, as a user outside the project would write them."""
    from pyiceberg.catalog.sql import SqlCatalog

    dsn = stack.postgres_dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    props = {"uri": f"{dsn}?options=-csearch_path%3Diceberg", "warehouse": lake.root}
    if lake.is_s3:
        props.update({"s3.endpoint": stack.s3_endpoint_url, "s3.region": "us-east-1",
                      "s3.access-key-id": os.environ.get("AWS_ACCESS_KEY_ID", "pinterest"),
                      "s3.secret-access-key": os.environ.get("AWS_SECRET_ACCESS_KEY", "pinterest-secret")})
    return SqlCatalog(lake.catalog_name, **props)


def postgres_rows(stack, schema: str, entity: str) -> list[tuple]:
    spec = registry.entity(entity)
    with psycopg.connect(stack.postgres_dsn) as conn:
        return sorted(conn.execute(f'SELECT {", ".join(spec.columns)} FROM "{schema}".{spec.table_asset} '
                                   "WHERE date = %s", (DAY,)).fetchall())


def test_pyiceberg_and_duckdb_read_each_day_as_pin_table_holds_it(stack, spark, kafka, lake, produce, topics):
    import duckdb
    from pyiceberg.expressions import EqualTo

    produce(topics["pin"], generate_pins(6, seed=41), key=lambda p: p["unique_id"], timestamp_ms=day_ms(DAY))
    produce(topics["geo"], generate_geo(list(range(5)), seed=41), timestamp_ms=day_ms(DAY))
    produce(topics["user"], generate_users(list(range(5)), seed=41), timestamp_ms=day_ms(DAY))
    schema = f"open_lake_{uuid.uuid4().hex[:8]}"
    resources = {**make_resources(kafka, lake), "postgres_io_manager": PostgresIOManager(
        postgres=PostgresResource(dsn=stack.postgres_dsn), pyspark=SparkResource(), schema_name=schema)}
    assets = [a for e in registry.names() for a in (build_raw_asset(e), build_cleaned_asset(e), build_table_asset(e))]
    assert dg.materialize(assets, resources=resources, partition_key=DAY).success

    catalog = pyiceberg_catalog(stack, lake)
    for entity in registry.names():
        spec = registry.entity(entity)
        table = catalog.load_table(f"pinterest.cleaned_{entity}")
        plain = lambda uri: uri.replace("file:///", "/").replace("file:/", "/")  # noqa: E731
        assert plain(table.location()).startswith(plain(lake.root)), table.location()
        scan = table.scan(row_filter=EqualTo("date", DAY), selected_fields=spec.columns)
        arrow = scan.to_arrow()
        expected = postgres_rows(stack, schema, entity)
        assert arrow.num_rows == len(expected) > 0, entity
        con = scan.to_duckdb(f"cleaned_{entity}")
        rows = sorted(con.execute(f"SELECT {', '.join(spec.columns)} FROM cleaned_{entity}").fetchall())
        assert rows == expected, entity
        assert isinstance(con, duckdb.DuckDBPyConnection)
        rejects = catalog.load_table(f"pinterest.cleaned_{entity}_rejects")
        assert "reason" in rejects.schema().column_names


def test_a_day_reads_as_of_an_earlier_snapshot_and_maintenance_keeps_the_rows(stack, spark, kafka, file_lake,
                                                                               produce, topics):
    lake = file_lake
    resources = make_resources(kafka, lake)
    assets = [build_raw_asset("pin"), build_cleaned_asset("pin")]
    pins = generate_pins(3, seed=42)
    produce(topics["pin"], pins, key=lambda p: p["unique_id"], timestamp_ms=day_ms(DAY))
    assert dg.materialize(assets, resources=resources, partition_key=DAY).success
    table = f"{lake.catalog_name}.pinterest.cleaned_pin"
    first = spark.sql(f"SELECT snapshot_id FROM {table}.refs WHERE name = 'main'").first()[0]
    for k in range(3):  # three more commits of the day: a new title each time (small files)
        produce(topics["pin"], [{**pins[0], "title": f"v{k}"}], key=lambda p: p["unique_id"],
                timestamp_ms=day_ms(DAY))
        assert dg.materialize(assets, resources=resources, partition_key=DAY).success

    def titles(sql: str) -> dict:
        return {r.unique_id: r.title for r in spark.sql(sql).collect()}

    now = titles(f"SELECT unique_id, title FROM {table} WHERE date = DATE '{DAY}'")
    assert now[pins[0]["unique_id"]] == "v2"
    # time travel: the day as the first commit published it (Spark SQL and pyiceberg)
    then = titles(f"SELECT unique_id, title FROM {table} VERSION AS OF {first} WHERE date = DATE '{DAY}'")
    assert then == {p["unique_id"]: p["title"] for p in pins}
    from pyiceberg.expressions import EqualTo

    old = pyiceberg_catalog(stack, lake).load_table("pinterest.cleaned_pin").scan(
        row_filter=EqualTo("date", DAY), snapshot_id=first).to_arrow()
    assert dict(zip(old["unique_id"].to_pylist(), old["title"].to_pylist())) == then

    # maintenance: keep only the last snapshot, compact the day's files; the rows stay the same
    files_before = spark.sql(f"SELECT count(*) FROM {table}.files").first()[0]
    config = {"ops": {"lake_maintenance": {"config": {"retain_days": 0, "retain_last": 1, "min_input_files": 1}}}}
    result = dg.materialize([lake_maintenance], resources={**resources}, run_config=config)
    assert result.success
    done = result.asset_materializations_for_node("lake_maintenance")[0].metadata["tables"].value
    assert done[table]["snapshots_left"] == 1
    assert spark.sql(f"SELECT count(*) FROM {table}.snapshots").first()[0] == 1
    assert spark.sql(f"SELECT count(*) FROM {table}.files").first()[0] <= files_before
    assert titles(f"SELECT unique_id, title FROM {table} WHERE date = DATE '{DAY}'") == now
    with pytest.raises(Exception, match="snapshot"):  # the first snapshot is expired
        spark.sql(f"SELECT * FROM {table} VERSION AS OF {first}").collect()
