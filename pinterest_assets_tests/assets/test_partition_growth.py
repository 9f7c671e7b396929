"""A topic gaining partitions (issue 24, class 1): the API's key partitioner then sends a key to
another partition, possibly a LOWER-numbered one. Either the pipeline stops loudly (partitions
added outside `pinterest topic grow`) or, after the grow command, every key's row in the daily
tables, pin_stream and the dbt staging views is its newest version. Never a silently older row."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pinterest_assets import entities as registry
from pinterest_assets_tests.assets.conftest import day_ms, make_resources
from pinterest_ingest.producer import murmur2

pytestmark = pytest.mark.integration

STAGING = Path(__file__).resolve().parents[2] / "analytics" / "models" / "staging"
STG = {"pin": "stg_pins", "geo": "stg_geolocations", "user": "stg_users"}
VALUE = {"pin": "title", "geo": "country", "user": "user_name"}  # the column that names the version


def slot(key: str, count: int) -> int:
    """The partition the API's KeyPartitioner picks for a normalised key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % count


def keys_by_move(entity: str, per_class: int, fillers: int) -> tuple[list, list]:
    """(tracked keys: `per_class` of each move 2 -> 3 partitions: 1->0, 0->2, 1->1, 0->0; filler keys
    in partition 1), as raw key values of `entity`."""
    wanted = {(1, 0): per_class, (0, 2): per_class, (1, 1): per_class, (0, 0): per_class}
    tracked, filler, n = [], [], 0
    while sum(wanted.values()) or len(filler) < fillers:
        n += 1
        raw = str(uuid.UUID(int=n * 7919 + 12345, version=4)) if entity == "pin" else 900_000 + n
        move = (slot(str(raw), 2), slot(str(raw), 3))
        if wanted.get(move, 0) > 0:
            wanted[move] -= 1
            tracked.append(raw)
        elif move[0] == 1 and len(filler) < fillers:
            filler.append(raw)
    return tracked, filler


def record(entity: str, key, version: str) -> dict:
    """A valid raw record of `entity` whose value says its version."""
    if entity == "pin":
        return {"index": 7, "unique_id": key, "title": version, "description": "d", "poster_name": "p",
                "follower_count": "10k", "tag_list": "a,b", "is_image_or_video": "image",
                "image_src": "https://i.pinimg.com/x.jpg", "downloaded": 1,
                "save_location": "Local save in /data/art", "category": "art"}
    if entity == "geo":
        return {"ind": key, "timestamp": "2020-08-28 03:52:47", "latitude": 1.5, "longitude": 2.5,
                "country": version}
    return {"ind": key, "first_name": version, "last_name": "x", "age": 30, "date_joined": "2016-01-01 00:00:00"}


def stored_version(entity: str, value: str) -> str:
    return value.split(" ")[0] if entity == "user" else value


def post_through_api_producer(bootstrap: str, topic: str, entity: str, records: list[dict]) -> list:
    """The ingestion API's producer (AsyncProducer, KeyPartitioner, key = the normalised key), a new
    instance each call (as after an API restart)."""
    from pinterest_assets_tests.conftest import connected_api_producer

    spec = registry.entity(entity)
    producer = connected_api_producer(bootstrap, ack_timeout=10.0)
    try:
        pairs = [(spec.normalize_key(r[spec.key]).encode(), json.dumps(r).encode()) for r in records]
        return asyncio.run(producer.produce_many(topic, pairs))
    finally:
        producer.close(timeout=5)


def staging_rows(conn, entity: str, keys: list) -> dict:
    """The dbt staging model's rows for `keys`: the model's own SQL, rendered with its source."""
    import jinja2

    macros = (STAGING.parent.parent / "macros" / "newest_per_key.sql").read_text()
    sql = jinja2.Template(macros + (STAGING / f"{STG[entity]}.sql").read_text()).render(
        source=lambda _schema, table: f"pinterest.{table}", age_group=lambda column: "NULL")
    key = registry.entity(entity).key
    column = VALUE[entity]
    return dict(conn.execute(f"SELECT {key}, {column} FROM ({sql}) s WHERE {key} = ANY(%s)", (keys,)).fetchall())


def test_partition_growth_by_grow_command_keeps_every_newest_version(
        stack, spark, admin, producer, file_lake, tmp_path):
    from kafka.admin import NewTopic

    from pinterest_assets.assets.streamed import pin_stream
    from pinterest_assets.stream.config import PinStreamConfig
    from pinterest_assets.definitions import build_defs, build_resources
    from pinterest_assets.ordering import grow_topic
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_ingest.producer import KeyPartitioner

    run = uuid.uuid4().hex[:10]
    topics = {e: f"test.{run}.{e}" for e in registry.names()}
    admin.create_topics([NewTopic(name=t, num_partitions=2, replication_factor=1) for t in topics.values()],
                        timeout_ms=30000)
    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics=topics)
    today = datetime.now(UTC).date()
    day1, day2 = (today - timedelta(days=1)).isoformat(), today.isoformat()

    keys = {e: keys_by_move(e, per_class=2, fillers=10) for e in registry.names()}
    # before the grow: v0 stamped yesterday (the key partitioner, 2 partitions), then v1 through the API
    from kafka import KafkaProducer

    v0_producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all",
                                partitioner=KeyPartitioner())
    for entity, (tracked, filler) in keys.items():
        spec = registry.entity(entity)
        for k in filler + tracked:
            v0_producer.send(topics[entity], key=spec.normalize_key(k).encode(),
                             value=json.dumps(record(entity, k, "v0")).encode(), timestamp_ms=day_ms(day1))
    v0_producer.flush()
    v0_producer.close()
    for entity, (tracked, filler) in keys.items():
        post_through_api_producer(stack.kafka_bootstrap_servers, topics[entity], entity,
                                  [record(entity, k, "v1") for k in filler + tracked])

    defs = build_defs()
    resources = {**defs.resources, **build_resources(stack), **make_resources(kafka, file_lake)}
    job = dg.Definitions(assets=defs.assets, jobs=defs.jobs, resources=resources).resolve_job_def("daily_batch_job")
    every_asset = [dg.AssetKey(f"{kind}_{e}") for e in registry.names() for kind in ("raw", "cleaned")] + \
        [dg.AssetKey(registry.entity(e).table_asset) for e in registry.names()]
    stream_config = PinStreamConfig(topic=topics["pin"], table=f"growth_{run}", checkpoint_dir=str(tmp_path / "cp"))

    def run_batch_and_stream(day: str) -> None:
        assert job.execute_in_process(partition_key=day, asset_selection=every_asset).success
        assert dg.materialize([pin_stream], resources=resources,
                              run_config=dg.RunConfig(ops={"pin_stream": stream_config})).success

    run_batch_and_stream(day1)

    for entity in registry.names():  # the API is stopped: nothing is produced during the grow
        grown = grow_topic(kafka, file_lake, entity, 3, quiet_s=0.5)
        assert grown.partitions == 3 and len(grown.boundaries) == 1
    acks = {e: post_through_api_producer(stack.kafka_bootstrap_servers, topics[e], e,
                                         [record(e, k, "v2") for k in keys[e][0]]) for e in registry.names()}
    moved_lower = [a for a in acks["pin"] if a.partition == 0]
    assert moved_lower, "the test needs keys that moved to a lower partition"
    assert {a.partition for e in acks for a in acks[e]} == {0, 1, 2}

    run_batch_and_stream(day2)

    with resources["postgres"].connect() as conn:
        for entity, (tracked, filler) in keys.items():
            spec = registry.entity(entity)
            expected = {**{k: "v1" for k in filler}, **{k: "v2" for k in tracked}}
            column = VALUE[entity]
            table = dict(conn.execute(
                f"SELECT {spec.key}, {column} FROM pinterest.{spec.table_asset} WHERE date = %s AND {spec.key} = ANY(%s)",
                (day2, tracked + filler)).fetchall())
            assert {k: stored_version(entity, v) for k, v in table.items()} == expected, f"{spec.table_asset} {day2}"
            staged = staging_rows(conn, entity, tracked + filler)
            assert {k: stored_version(entity, v) for k, v in staged.items()} == expected, STG[entity]
        streamed = dict(conn.execute(f'SELECT unique_id, title FROM pinterest."growth_{run}" WHERE unique_id = ANY(%s)',
                                     (keys["pin"][0] + keys["pin"][1],)).fetchall())
    assert streamed == {**{k: "v1" for k in keys["pin"][1]}, **{k: "v2" for k in keys["pin"][0]}}


def test_partition_growth_outside_grow_command_stops_landing_and_stream(
        stack, spark, admin, file_lake, produce, tmp_path):
    from kafka.admin import NewPartitions, NewTopic

    from pinterest_assets.landing.engine import land_topic
    from pinterest_assets.stream.config import PinStreamConfig
    from pinterest_assets.stream.postgres_sink import PinStreamSink
    from pinterest_assets.stream.query import start_pin_stream
    from pinterest_assets.stream.source import PartitionWatch
    from pinterest_assets.ordering import PartitionCountChanged, grow_topic, load_epochs
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.postgres import PostgresResource

    run = uuid.uuid4().hex[:10]
    topic = f"test.{run}.pin"
    admin.create_topics([NewTopic(name=topic, num_partitions=2, replication_factor=1)], timeout_ms=30000)
    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics={"pin": topic})
    tracked, _ = keys_by_move("pin", per_class=1, fillers=0)
    produce(topic, [record("pin", k, "v1") for k in tracked], key=lambda r: r["unique_id"])
    land_topic(kafka, file_lake, "pin")
    assert load_epochs(file_lake, "pin", topic).partitions == 2
    watch = PartitionWatch(stack.kafka_bootstrap_servers, load_epochs(file_lake, "pin", topic))
    watch.check()  # a running stream's micro-batch: same count, commits

    admin.create_partitions({topic: NewPartitions(total_count=3)})
    post_through_api_producer(stack.kafka_bootstrap_servers, topic, "pin", [record("pin", k, "v2") for k in tracked])
    want = f"topic {topic} has 3 partitions, but the lake recorded 2"
    with pytest.raises(PartitionCountChanged, match=want) as landing:
        land_topic(kafka, file_lake, "pin")
    assert "pinterest topic grow pin --partitions N" in landing.value.description
    assert "nothing was landed" in landing.value.description
    with pytest.raises(PartitionCountChanged, match="this micro-batch was not written"):
        watch.check()  # the running stream's next micro-batch does not commit
    watch.close()

    postgres = PostgresResource.from_settings(stack)
    config = PinStreamConfig(topic=topic, table=f"growth_{run}", checkpoint_dir=str(tmp_path / "cp"),
                             bootstrap_servers=stack.kafka_bootstrap_servers)
    with pytest.raises(PartitionCountChanged, match=want):
        start_pin_stream(spark, config, PinStreamSink(postgres, table=config.table), postgres=postgres,
                         trigger={"availableNow": True}, lake=file_lake)
    with postgres.connect() as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f'pinterest."growth_{run}"',)).fetchone()[0] is None

    # records went into the added partition: the grow command cannot adopt them either
    with pytest.raises(dg.Failure, match="added outside `pinterest topic grow` and already hold records"):
        grow_topic(kafka, file_lake, "pin", 3, quiet_s=0.2)


def test_partition_growth_command_wants_quiet_producers(stack, admin, producer, file_lake, monkeypatch):
    """`pinterest topic grow` refuses while a producer writes ("stop the API first"); a write during
    the grow leaves it unconfirmed and the landing stopped, until it is accepted explicitly."""
    import threading

    from click.testing import CliRunner
    from kafka.admin import NewTopic

    from pinterest_assets.landing.engine import land_topic
    from pinterest_assets.ordering import PartitionCountChanged, load_epochs
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_platform.cli import cli

    topic = f"test.{uuid.uuid4().hex[:10]}.geo"
    admin.create_topics([NewTopic(name=topic, num_partitions=2, replication_factor=1)], timeout_ms=30000)
    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics={"geo": topic})
    monkeypatch.setenv("PINTEREST_KAFKA_BOOTSTRAP", stack.kafka_bootstrap_servers)
    monkeypatch.setenv("PINTEREST_LAKE_URI", file_lake.uri)
    grow = ["topic", "grow", "geo", "--partitions", "3", "--topic", topic, "--quiet-seconds", "1"]

    def send():
        producer.send(topic, key=b"1", value=json.dumps(record("geo", 1, "busy")).encode()).get(timeout=10)

    def writer(stop, when=lambda: True):
        def run():
            while not stop.is_set():
                if when():
                    send()
                    if when is not always:
                        return
                time.sleep(0.05)
        return threading.Thread(target=run)

    def always():
        return True

    def grown():
        return len(admin.describe_topics([topic])[0]["partitions"]) == 3

    send()
    stop = threading.Event()
    busy = writer(stop, always)
    busy.start()
    try:
        refused = CliRunner().invoke(cli, grow)
    finally:
        stop.set()
        busy.join()
    assert refused.exit_code == 1 and "stop the API" in refused.output, refused.output
    assert load_epochs(file_lake, "geo", topic) is None  # nothing recorded

    stop = threading.Event()
    late = writer(stop, grown)  # an idle API that posts once right after the partitions appear
    late.start()
    try:
        during = CliRunner().invoke(cli, [*grow[:-1], "3"])
    finally:
        stop.set()
        late.join()
    assert during.exit_code == 1 and ("during the grow" in during.output or "stop the API" in during.output), during.output
    assert not load_epochs(file_lake, "geo", topic).confirmed
    with pytest.raises(PartitionCountChanged, match="was not confirmed"):
        land_topic(kafka, file_lake, "geo")

    done = CliRunner().invoke(cli, [*grow, "--accept-writes-during-grow"])
    assert done.exit_code == 0, done.output
    assert f"{topic}: 3 partitions, epoch 1" in done.output and "Restart the API" in done.output
    epochs = load_epochs(file_lake, "geo", topic)
    ends = {p: end for (_, p), end in kafka.end_offsets([topic]).items()}
    assert epochs.confirmed and epochs.partitions == 3 and epochs.boundaries == ({p: ends[p] for p in range(3)},)
    land_topic(kafka, file_lake, "geo")


def test_partition_growth_order_is_one_value_in_python_spark_and_postgres(spark, stack):
    """The epoch arithmetic and the _order digits agree wherever they are computed, and a table
    stored before the column existed gets it filled (epoch 0) when the column is added."""
    from pinterest_assets.ordering import Epochs, order_column, order_value
    from pinterest_assets.postgres_copy import ensure_table
    from pinterest_assets.resources.postgres import PostgresResource

    epochs = Epochs("t", 3, ({0: 5, 1: 7, 2: 0}, {0: 9, 1: 7, 2: 4}))
    cases = [(0, 4), (0, 5), (0, 9), (1, 6), (1, 7), (2, 0), (2, 3), (2, 4), (1, 2**62)]
    frame = spark.createDataFrame(cases, "_partition int, _offset long")
    spark_orders = [r[0] for r in frame.select(order_column(epochs)).collect()]
    assert [int(v) for v in spark_orders] == [epochs.order(p, o) for p, o in cases]
    assert [epochs.epoch(p, o) for p, o in cases] == [0, 1, 2, 0, 2, 1, 1, 2, 2]
    assert order_value(1, 2, 7) > order_value(0, 2**31 - 1, 2**63 - 1) > order_value(0, 1, 10**18)

    table = f"legacy_{uuid.uuid4().hex[:8]}"
    postgres = PostgresResource.from_settings(stack)
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS pinterest")
        cur.execute(f"CREATE TABLE pinterest.{table} (k text PRIMARY KEY, _kafka_partition int, _kafka_offset bigint)")
        cur.execute(f"INSERT INTO pinterest.{table} VALUES ('a', 2, 7), ('b', 0, {2**62})")
        ensure_table(cur, ("pinterest", table), [("k", "text"), ("_kafka_partition", "integer"),
                                                 ("_kafka_offset", "bigint"), ("_kafka_order", "numeric(38,0)")], ["k"])
        stored = dict(cur.execute(f"SELECT k, _kafka_order FROM pinterest.{table}").fetchall())
        cur.execute(f"DROP TABLE pinterest.{table}")
    assert {k: int(v) for k, v in stored.items()} == {"a": order_value(0, 2, 7), "b": order_value(0, 0, 2**62)}
