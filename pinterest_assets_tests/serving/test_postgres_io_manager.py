"""The Postgres IO manager against the real PostgreSQL of the session stack."""


import datetime as dt
import json
import uuid

import dagster as dg
import pytest

from pinterest_assets.io_managers.postgres import PostgresIOManager
from pinterest_assets.resources.spark_resource import SparkResource
from pinterest_assets.partitions import daily_partitions

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc
SCHEMA = (
    "ind bigint, unique_id string, title string, follower_count bigint, tag_list array<string>, "
    "downloaded boolean, latitude double, age int, _kafka_timestamp timestamp"
)


def rows(prefix: str, n: int, day: int) -> list[tuple]:
    return [
        (i, f"{prefix}-{i}", f"Título {i} ✨" if i % 3 else None, i * 1000, ["travel", f"tag,{i}", 'q"t'] if i % 4 else None,
         bool(i % 2), -45.5 + i, 20 + i, dt.datetime(2025, 3, day, 12, 0, i, 123456, tzinfo=UTC))
        for i in range(n)
    ]


def sample_asset(name: str, spark, data_by_partition: dict[str, list[tuple]]):
    @dg.asset(
        name=name,
        partitions_def=daily_partitions,
        io_manager_key="postgres_io_manager",
        metadata={"primary_key": "unique_id", "indexes": ["title", ["downloaded", "age"]]},
    )
    def _sample(context: dg.AssetExecutionContext):
        return spark.createDataFrame(data_by_partition[context.partition_key], SCHEMA)

    return _sample


def test_round_trip_types_key_and_partition_replace(spark, postgres, query_pg):
    name = f"io_test_{uuid.uuid4().hex[:8]}"
    data = {"2025-03-01": rows("a", 7, 1), "2025-03-02": rows("b", 5, 2)}
    asset = sample_asset(name, spark, data)
    loaded = {}

    @dg.asset(partitions_def=daily_partitions, deps=[], ins={"table": dg.AssetIn(key=name)})
    def reader(context: dg.AssetExecutionContext, table) -> None:
        loaded[context.partition_key] = table.collect()

    resources = {"postgres_io_manager": PostgresIOManager(postgres=postgres, pyspark=SparkResource()), "io_manager": dg.InMemoryIOManager()}

    def run(partition, selection=None):
        result = dg.materialize([asset, reader], partition_key=partition, resources=resources, selection=selection)
        assert result.success
        return result

    first = run("2025-03-01", selection=[name])
    run("2025-03-02", selection=[name])
    meta = first.asset_materializations_for_node(name)[0].metadata
    assert meta["rows"].value == 7
    assert meta["table"].value == f"pinterest.{name}"
    assert meta["partition"].value == "2025-03-01"

    # types derived from the Spark schema, plus the partition column
    types = dict(query_pg(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema='pinterest' AND table_name=%s",
        (name,)))
    assert types == {
        "date": "date", "ind": "bigint", "unique_id": "text", "title": "text", "follower_count": "bigint",
        "tag_list": "ARRAY", "downloaded": "boolean", "latitude": "double precision", "age": "integer",
        "_kafka_timestamp": "timestamp with time zone",
    }
    element = query_pg("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                       "WHERE attrelid = %s::regclass AND attname = 'tag_list'", (f"pinterest.{name}",))
    assert element == [("text[]",)]
    pk = query_pg(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        (f"pinterest.{name}",))
    assert [r[0] for r in pk] == ["date", "unique_id"]
    indexes = {r[0] for r in query_pg("SELECT indexdef FROM pg_indexes WHERE schemaname='pinterest' AND tablename=%s", (name,))}
    assert any("(title)" in d for d in indexes) and any("(downloaded, age)" in d for d in indexes)

    # values as written: text with accents and emoji, arrays with commas and quotes, tz-aware UTC
    stored = query_pg(f'SELECT unique_id, title, tag_list, _kafka_timestamp, latitude FROM pinterest."{name}" '
                      "WHERE date = '2025-03-01' ORDER BY ind")
    assert stored[1] == ("a-1", "Título 1 ✨", ["travel", "tag,1", 'q"t'], dt.datetime(2025, 3, 1, 12, 0, 1, 123456, tzinfo=UTC), -44.5)
    assert stored[0][1] is None and stored[4][2] is None

    # same partition again with other data: one copy, the new one; the other partition untouched
    data["2025-03-01"] = rows("c", 3, 1)
    again = run("2025-03-01", selection=[name])
    assert again.asset_materializations_for_node(name)[0].metadata["replaced_rows"].value == 7
    counts = dict(query_pg(f'SELECT date::text, count(*) FROM pinterest."{name}" GROUP BY date'))
    assert counts == {"2025-03-01": 3, "2025-03-02": 5}
    ids = {r[0] for r in query_pg(f"SELECT unique_id FROM pinterest.\"{name}\" WHERE date = '2025-03-01'")}
    assert ids == {"c-0", "c-1", "c-2"}

    # load_input: a Spark DataFrame of that day, as it was written
    run("2025-03-02", selection=["reader"])
    got = sorted(loaded["2025-03-02"], key=lambda r: r["ind"])
    assert len(got) == 5
    assert got[3].asDict() == {
        "ind": 3, "unique_id": "b-3", "title": None, "follower_count": 3000, "tag_list": ["travel", "tag,3", 'q"t'],
        "downloaded": True, "latitude": -42.5, "age": 23,
        "_kafka_timestamp": got[3]["_kafka_timestamp"],
    }
    # Spark hands back a naive datetime in the Python process's local zone; the instant is the one written
    assert got[3]["_kafka_timestamp"].timestamp() == dt.datetime(2025, 3, 2, 12, 0, 3, 123456, tzinfo=UTC).timestamp()


def test_failed_load_keeps_the_previous_partition(spark, postgres, query_pg):
    """A load that fails mid-way (duplicate key) rolls back: the day keeps its previous rows."""
    name = f"io_test_{uuid.uuid4().hex[:8]}"
    data = {"2025-03-01": rows("a", 4, 1)}
    asset = sample_asset(name, spark, data)
    resources = {"postgres_io_manager": PostgresIOManager(postgres=postgres, pyspark=SparkResource())}
    assert dg.materialize([asset], partition_key="2025-03-01", resources=resources).success

    data["2025-03-01"] = rows("d", 3, 1) + rows("d", 2, 1)  # d-0, d-1 twice
    result = dg.materialize([asset], partition_key="2025-03-01", resources=resources, raise_on_error=False)
    assert not result.success
    ids = sorted(r[0] for r in query_pg(f'SELECT unique_id FROM pinterest."{name}"'))
    assert ids == ["a-0", "a-1", "a-2", "a-3"]


def test_pin_table_asset_loads_cleaned_pins(spark, postgres, query_pg):
    """pin_table: cleaned pins (the real cleaning library) of one day -> pinterest.pin_table."""
    from pinterest_assets.assets.serving import build_table_asset

    pin_table = build_table_asset("pin")
    from pinterest_assets.cleaning import latest_per_key, raw_frame_from_json
    from pinterest_assets.cleaning.pin import clean_pin
    from pinterest_assets.ordering import order_column
    from pinterest_assets_tests.serving.conftest import pin_record

    day = "2025-01-03"  # a day no other test of the suite loads
    uid = str(uuid.uuid4())
    records = [pin_record(1, uid, title="old"), pin_record(2), pin_record(3, uid, title="new", follower_count="2M"),
               pin_record(4, "not-a-uuid")]
    lines = [(json.dumps(r), "pinterest.pin", 0, i, dt.datetime(2025, 1, 3, 10, 0, i, tzinfo=UTC))
             for i, r in enumerate(records)]

    @dg.asset(name="cleaned_pin", partitions_def=daily_partitions, io_manager_key="lake_io_manager")
    def cleaned_pin():
        frame = spark.createDataFrame(lines, "value string, _topic string, _partition int, _offset long, _timestamp timestamp")
        frame = frame.withColumn("_order", order_column(None))
        clean, _ = clean_pin(raw_frame_from_json(frame, "value", "pin"))
        return latest_per_key(clean, "pin")

    result = dg.materialize(
        [cleaned_pin, pin_table], partition_key=day,
        resources={"lake_io_manager": dg.InMemoryIOManager(), "postgres_io_manager": PostgresIOManager(postgres=postgres, pyspark=SparkResource())},
    )
    assert result.success
    assert result.asset_materializations_for_node("pin_table")[0].metadata["rows"].value == 2
    stored = query_pg(
        "SELECT title, follower_count, tag_list, is_image_or_video, downloaded, _kafka_offset FROM pinterest.pin_table "
        "WHERE date = %s AND unique_id = %s", (dt.date(2025, 1, 3), uid))
    assert stored == [("new", 2_000_000, ["travel", "Beach"], "story", True, 2)]
    assert query_pg("SELECT count(*) FROM pinterest.pin_table WHERE date = %s", (dt.date(2025, 1, 3),)) == [(2,)]
    with postgres.connect() as conn:
        conn.execute("DELETE FROM pinterest.pin_table WHERE date = %s", (dt.date(2025, 1, 3),))


def test_copy_encoding_keeps_every_value(spark, postgres, query_pg):
    """Text that COPY and array literals treat specially arrives unchanged (NUL characters dropped)."""
    name = f"io_test_{uuid.uuid4().hex[:8]}"
    hard = ["back\\slash", "tab\there", "new\nline\r\n", 'quote " and \\"', "NULL", "", " spaced ", "{braces}",
            "a,b", "\\N", "emoji 😀 Зимний", "nul\x00char"]
    data = [(i, text, [text, None, "NULL", ""], float(i) * 1e10 if i % 2 else -0.5, dt.date(2025, 1, i + 1),
             dt.datetime(1999, 12, 31, 23, 59, 59, i, tzinfo=UTC), bytes([0, 92, 255, i]), {"k": text})
            for i, text in enumerate(hard)]
    data.append((99, None, [], None, None, None, None, None))
    schema = ("id long, text string, tags array<string>, x double, d date, ts timestamp, b binary, "
              "m map<string,string>")

    @dg.asset(name=name, io_manager_key="postgres_io_manager", metadata={"primary_key": "id"})
    def _hard():
        return spark.createDataFrame(data, schema)

    assert dg.materialize([_hard], resources={"postgres_io_manager": PostgresIOManager(postgres=postgres, pyspark=SparkResource())}).success
    stored = query_pg(f'SELECT id, text, tags, x, d, ts, b, m FROM pinterest."{name}" ORDER BY id')
    expected = [(i, t.replace("\x00", ""), [t.replace("\x00", ""), None, "NULL", ""], x, d, ts, b, {"k": t.replace("\x00", "")})
                for i, t, _, x, d, ts, b, _m in data[:-1]]
    expected.append((99, None, [], None, None, None, None, None))
    assert stored == expected
    # an unpartitioned asset replaces its whole table
    data[:] = data[:2]
    assert dg.materialize([_hard], resources={"postgres_io_manager": PostgresIOManager(postgres=postgres, pyspark=SparkResource())}).success
    assert query_pg(f'SELECT count(*) FROM pinterest."{name}"') == [(2,)]


def test_an_injection_through_run_config_is_refused_and_the_tables_stay(postgres, query_pg):
    """pin_stream's `table` comes from run config: anything but a plain name is refused up front."""
    from pinterest_assets.assets.streamed import pin_stream
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource

    with postgres.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS pinterest")
        conn.execute("CREATE TABLE IF NOT EXISTS pinterest.injection_canary (id int)")
    for table in ('pin_stream"; DROP TABLE pinterest.injection_canary; --',
                  "x; DROP TABLE pinterest.injection_canary", "Pin_Stream", "a" * 64):
        result = dg.materialize([pin_stream], resources={"postgres": postgres, "kafka": KafkaResource.from_settings(), "lake": LakeResource.from_settings(),
                                                         "pyspark": SparkResource()},
                                run_config={"ops": {"pin_stream": {"config": {"table": table}}}}, raise_on_error=False)
        assert not result.success
        failure = result.failure_data_for_node("pin_stream")
        assert "table" in str(failure.error) and "pattern" in str(failure.error), failure.error
    assert query_pg("SELECT to_regclass('pinterest.injection_canary') IS NOT NULL") == [(True,)]
