"""pin_stream against real Kafka, Spark and PostgreSQL: newest event wins, replays change nothing."""

import datetime as dt
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from pinterest_assets.assets.streamed import pin_stream
from pinterest_assets.stream.checkpoint import committed_offsets, prepare_checkpoint
from pinterest_assets.stream.config import PinStreamConfig
from pinterest_assets.stream.warmup import warm_up
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.resources.spark_resource import SparkResource
from pinterest_assets_tests.serving.conftest import pin_record

pytestmark = pytest.mark.integration

UTC = dt.timezone.utc


def materialize_stream(postgres, **config) -> dict:
    result = dg.materialize(
        [pin_stream],
        resources={"postgres": postgres, "kafka": KafkaResource.from_settings(), "lake": LakeResource.from_settings(), "pyspark": SparkResource()},
        run_config=dg.RunConfig(ops={"pin_stream": PinStreamConfig(**config)}),
    )
    assert result.success
    return {k: v.value for k, v in result.asset_materializations_for_node("pin_stream")[0].metadata.items()}


def snapshot(query_pg, table: str) -> list[tuple]:
    return query_pg(f'SELECT * FROM pinterest."{table}" ORDER BY unique_id')


def test_pin_stream_newest_wins_across_runs_and_replays_change_nothing(stack, postgres, new_topic, produce,
                                                                        query_pg, tmp_path):
    topic = new_topic(partitions=3)
    table = f"pin_stream_{uuid.uuid4().hex[:8]}"
    checkpoint = tmp_path / "checkpoint"
    config = dict(topic=topic, table=table, checkpoint_dir=str(checkpoint), max_offsets_per_trigger=5)
    t0 = int(time.time() * 1000) - 600_000
    keys = [str(uuid.uuid4()) for _ in range(15)]

    # ---- run 1: 12 keys; k0 updated later in the topic (other partition), k1 gets a stale event
    first = [pin_record(i, keys[i], title=f"v1-{i}") for i in range(12)]
    first_ts = [t0 + i * 1000 for i in range(12)]
    first_parts = [i % 3 for i in range(12)]
    first += [pin_record(0, keys[0], title="v2", follower_count="2M"), pin_record(1, keys[1], title="stale"),
              "not json {", pin_record(99, "nope")]
    first_ts += [t0 + 50_000, t0 - 100_000, t0 + 1, t0 + 2]
    first_parts += [2, 0, 1, 1]
    sent = produce(topic, first, timestamps=first_ts, partitions=first_parts)

    meta = materialize_stream(postgres, **config)
    assert meta["batches"] >= 2  # 16 records at most 5 per micro-batch
    assert meta["rejects"] == 2
    rows = {r[0]: r[1:] for r in query_pg(
        f'SELECT unique_id, title, follower_count, _kafka_partition, _kafka_offset, _kafka_timestamp '
        f'FROM pinterest."{table}"')}
    assert set(rows) == set(keys[:12])
    assert rows[keys[0]][:2] == ("v2", 2_000_000)
    assert rows[keys[0]][4] == dt.datetime.fromtimestamp((t0 + 50_000) / 1000, UTC)
    assert rows[keys[1]][0] == "v1-1"  # the "stale" event sits in a lower partition: it lost
    assert (rows[keys[5]][2], rows[keys[5]][3]) == (sent[5].partition, sent[5].offset)
    rejects = query_pg(f'SELECT reason, _kafka_partition FROM pinterest."{table}_rejects" ORDER BY reason')
    assert rejects == [("invalid_unique_id", 1), ("not_json", 1)]  # the landing's reason
    end_offsets = {str(p): sum(1 for x in first_parts if x == p) for p in range(3)}
    assert meta["offsets_reached"] == {topic: end_offsets}

    # ---- run 2: new keys, a newer k3, and k4 with an older producer timestamp but a later offset in
    # its partition: newest is log order, so k4's event wins too (the timestamp only picks the day)
    second = [pin_record(3, keys[3], title="v3", follower_count="437"), pin_record(4, keys[4], title="older")]
    second += [pin_record(i, keys[i], title=f"v1-{i}") for i in range(12, 15)]
    produce(topic, second, timestamps=[t0 + 200_000, t0 - 5_000, t0 + 201_000, t0 + 202_000, t0 + 203_000],
            partitions=[0, 1, 2, 0, 1])
    meta = materialize_stream(postgres, **config)
    assert meta["rows_upserted"] == 5  # k3 and k4 updated, three new keys
    rows = dict(query_pg(f'SELECT unique_id, title FROM pinterest."{table}"'))
    assert rows == {**{k: f"v1-{i}" for i, k in enumerate(keys)}, keys[0]: "v2", keys[3]: "v3", keys[4]: "older"}
    assert query_pg(f'SELECT count(*), count(DISTINCT unique_id) FROM pinterest."{table}"') == [(15, 15)]
    before = snapshot(query_pg, table)
    rejects_before = query_pg(f'SELECT * FROM pinterest."{table}_rejects" ORDER BY 1')

    # ---- replay: forget the last commit, as if the process died after the Postgres commit
    commits = sorted((checkpoint / "commits").glob("[0-9]*"), key=lambda p: int(p.name))
    commits[-1].unlink()
    (checkpoint / "commits" / f".{commits[-1].name}.crc").unlink(missing_ok=True)  # Hadoop's checksum
    # a kill while Spark wrote a log entry leaves its half-written temp file (the entry appears only by
    # the rename after the write): the restart ignores both
    (checkpoint / "offsets" / f".{int(commits[-1].name) + 1}.{uuid.uuid4()}.tmp").write_text('v1\n{"batchWat')
    (checkpoint / "commits" / f".{commits[-1].name}.{uuid.uuid4()}.tmp").write_text("v1\n")
    meta = materialize_stream(postgres, **config)
    assert meta["batches"] >= 1 and meta["rows_upserted"] == 0
    assert snapshot(query_pg, table) == before

    # ---- replay everything with a fresh checkpoint: nothing changes either
    meta = materialize_stream(postgres, **{**config, "checkpoint_dir": str(tmp_path / "fresh")})
    assert meta["rows_upserted"] == 0 and meta["keys_staged"] >= 15
    assert snapshot(query_pg, table) == before
    assert query_pg(f'SELECT * FROM pinterest."{table}_rejects" ORDER BY 1') == rejects_before

    # ---- the whole topic as ONE micro-batch into a new table: every version of a key in the same
    # batch (k0 in partitions 0 and 2, k1 in 1 and 0, k3/k4 twice in one partition): same rows
    whole = f"{table}_one"
    meta = materialize_stream(postgres, **{**config, "table": whole, "max_offsets_per_trigger": None,
                                           "checkpoint_dir": str(tmp_path / "one-batch")})
    assert meta["batches"] == 1 and meta["rows_upserted"] == 15
    columns = "unique_id, title, follower_count, _kafka_partition, _kafka_offset, _kafka_timestamp"
    assert query_pg(f'SELECT {columns} FROM pinterest."{whole}" ORDER BY 1') == \
        query_pg(f'SELECT {columns} FROM pinterest."{table}" ORDER BY 1')


def test_committed_offsets_reads_the_checkpoint(tmp_path: Path):
    (tmp_path / "offsets").mkdir()
    (tmp_path / "commits").mkdir()
    assert committed_offsets(tmp_path) == {}
    (tmp_path / "offsets" / "0").write_text('v1\n{"batchWatermarkMs":0}\n{"t":{"0":5,"1":2}}\n')
    (tmp_path / "offsets" / "1").write_text('v1\n{"batchWatermarkMs":0}\n{"t":{"0":9,"1":2}}\n')
    (tmp_path / "commits" / "0").write_text("v1\n{}\n")
    assert committed_offsets(tmp_path) == {"t": {"0": 5, "1": 2}}  # batch 1 ran but did not commit


def test_a_local_checkpoint_gets_its_folder_and_the_file_system_manager_and_a_remote_one_neither(
        spark, tmp_path: Path, monkeypatch):
    """Spark's own factory picks the manager the stream will use: the class exists in the pinned
    pyspark, and writes the log atomically (temp file + rename) with 2 process forks per file
    instead of 10. A local checkpoint's folder is created; a remote one creates nothing locally
    (it once became a junk folder ``s3a:/bucket/cp`` in the working directory)."""
    jvm = spark._jvm
    factory = jvm.org.apache.spark.sql.execution.streaming.checkpointing.CheckpointFileManager
    monkeypatch.chdir(tmp_path)

    def manager_for(path: str) -> str:
        prepare_checkpoint(spark, path)
        hadoop_conf = spark._jsparkSession.sessionState().newHadoopConf()
        return factory.create(jvm.org.apache.hadoop.fs.Path(path), hadoop_conf).getClass().getSimpleName()

    try:
        assert manager_for(str(tmp_path / "cp")) == "FileSystemBasedCheckpointFileManager"
        assert (tmp_path / "cp").is_dir()
        assert manager_for(f"file://{tmp_path}/nested/cp") == "FileSystemBasedCheckpointFileManager"
        assert (tmp_path / "nested" / "cp").is_dir()
        prepare_checkpoint(spark, "s3a://bucket/cp")
        assert spark.conf.get("spark.sql.streaming.checkpointFileManagerClass", None) is None
        assert manager_for(str(tmp_path / "again")) == "FileSystemBasedCheckpointFileManager"
        prepare_checkpoint(spark, "hdfs://namenode/cp")
        hadoop_conf = spark._jsparkSession.sessionState().newHadoopConf()
        default = factory.create(jvm.org.apache.hadoop.fs.Path(f"file://{tmp_path}/x"), hadoop_conf)
        assert default.getClass().getSimpleName() == "FileContextBasedCheckpointFileManager"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "cp", "nested"]  # no s3a:, hdfs:
    finally:
        spark.conf.unset("spark.sql.streaming.checkpointFileManagerClass")


def test_pin_stream_fails_loudly_when_kafka_lost_unread_records(stack, postgres, new_topic, produce, query_pg,
                                                               tmp_path):
    """Records deleted from Kafka before the checkpoint read them: the run fails and says why."""
    from kafka import KafkaAdminClient, TopicPartition

    topic = new_topic(partitions=1)
    table = f"pin_stream_{uuid.uuid4().hex[:8]}"
    config = dict(topic=topic, table=table, checkpoint_dir=str(tmp_path / "checkpoint"))
    produce(topic, [pin_record(i) for i in range(3)], partition=0)
    assert materialize_stream(postgres, **config)["offsets_reached"] == {topic: {"0": 3}}
    produce(topic, [pin_record(i) for i in range(3, 8)], partition=0)
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    try:
        admin.delete_records({TopicPartition(topic, 0): 6}, timeout_ms=30000)  # offsets 3-5 never read
    finally:
        admin.close()

    result = dg.materialize(
        [pin_stream], resources={"postgres": postgres, "kafka": KafkaResource.from_settings(), "lake": LakeResource.from_settings(), "pyspark": SparkResource()}, raise_on_error=False,
        run_config=dg.RunConfig(ops={"pin_stream": PinStreamConfig(**config)}),
    )
    assert not result.success
    failure = result.failure_data_for_node("pin_stream")
    assert "retention deleted them" in failure.user_failure_data.description
    assert query_pg(f'SELECT count(*) FROM pinterest."{table}"') == [(3,)]  # nothing skipped silently


def test_copy_text_lines_round_trip_through_postgres(spark, postgres, query_pg):
    """Spark-formatted COPY lines, sent as Arrow buffers, store exactly the values (escapes, NULLs, arrays)."""
    from pyspark.sql import types as T

    from pinterest_assets.postgres_copy import COPY_LINE, copy_arrow_lines, copy_text_lines

    schema = T.StructType([
        T.StructField("s", T.StringType()), T.StructField("n", T.LongType()), T.StructField("b", T.BooleanType()),
        T.StructField("tags", T.ArrayType(T.StringType())), T.StructField("ts", T.TimestampType()),
        T.StructField("d", T.DoubleType()),
    ])
    ts = dt.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    rows = [
        ("tab\there\\back\nline\rcr", 1, True, ["a", 'q"uote', "back\\slash", "com,ma", None, "{x}", ""], ts, 1.5),
        (None, None, None, None, None, None),
        ("nul\x00char é😀", -7, False, [], ts, -2.0e10),
        ("", 0, True, ["N", "NULL"], ts, 0.0),
    ]
    df = spark.createDataFrame(rows, schema)
    table = f"copy_lines_{uuid.uuid4().hex[:8]}"
    lines = copy_text_lines(df).toArrow().column(COPY_LINE)
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute(f'CREATE TABLE pinterest."{table}" (s text, n bigint, b boolean, tags text[], '
                    f'ts timestamptz, d double precision)')
        assert copy_arrow_lines(cur, ("pinterest", table), df.columns, lines) == 4
        assert copy_arrow_lines(cur, ("pinterest", table), df.columns, lines.slice(1, 2)) == 2  # sliced chunks
    stored = query_pg(f'SELECT s, n, b, tags, ts, d FROM pinterest."{table}"')
    expected = [list(r) for r in rows]
    expected[2][0] = "nulchar é😀"  # PostgreSQL text cannot hold NUL: dropped
    expected += [list(rows[1]), expected[2]]
    assert [list(r) for r in stored] == expected

    # bytes that are not UTF-8 (a Kafka value cast to text keeps them): valid text, not a failed COPY
    raw = (spark.createDataFrame([(b"\xd1\xfd ok",), (b"\xff\x00\\",)], "b binary")
           .selectExpr("cast(b as string) AS s"))
    lines = copy_text_lines(raw).toArrow().column(COPY_LINE)
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute(f'CREATE TABLE pinterest."{table}_bytes" (s text)')
        assert copy_arrow_lines(cur, ("pinterest", f"{table}_bytes"), ["s"], lines) == 2
    assert query_pg(f'SELECT s FROM pinterest."{table}_bytes"') == [("\ufffd\ufffd ok",), ("\ufffd\\",)]


def _recreate(topic: str, bootstrap: str, partitions: int = 1) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        admin.delete_topics([topic], timeout_ms=30000)
        deadline = time.monotonic() + 60
        while True:
            try:
                admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=30000)
                return
            except Exception:  # noqa: BLE001 - the deletion is asynchronous: retry until the name is free
                assert time.monotonic() < deadline, f"{topic} could not be created again"
                time.sleep(1)
    finally:
        admin.close()


def test_a_recreated_topic_is_refused_then_rebuilt_on_request(stack, postgres, new_topic, produce, query_pg,
                                                               tmp_path):
    """A recreated topic restarts its offsets. With more records than the checkpoint had read, Spark
    alone would skip the new topic's first ones, and the forward-only upsert would keep old rows over
    new events: the run refuses instead, writes nothing, and rebuilds only when asked to."""
    topic = new_topic(partitions=1)
    table = f"pin_stream_{uuid.uuid4().hex[:8]}"
    checkpoint = tmp_path / "checkpoint"
    config = dict(topic=topic, table=table, checkpoint_dir=str(checkpoint))
    keys = [str(uuid.uuid4()) for _ in range(8)]
    produce(topic, [pin_record(i, keys[i], title=f"old-{i}") for i in range(5)], partition=0)
    assert materialize_stream(postgres, **config)["offsets_reached"] == {topic: {"0": 5}}
    old = dict(query_pg(f'SELECT unique_id, title FROM pinterest."{table}"'))
    assert old == {keys[i]: f"old-{i}" for i in range(5)}

    _recreate(topic, stack.kafka_bootstrap_servers)
    # 8 records: the checkpoint's offset 5 lies inside the new topic, so offsets alone look fine
    produce(topic, [pin_record(i, keys[i], title=f"new-{i}") for i in range(2, 8)] + ["not json {", "{}"],
            partition=0)
    refused = dg.materialize(
        [pin_stream], raise_on_error=False,
        resources={"postgres": postgres, "kafka": KafkaResource.from_settings(), "lake": LakeResource.from_settings(), "pyspark": SparkResource()},
        run_config=dg.RunConfig(ops={"pin_stream": PinStreamConfig(**config)}),
    )
    assert not refused.success
    text = refused.failure_data_for_node("pin_stream").user_failure_data.description
    assert f"built from topic {topic}" in text and "reset_for_new_topic" in text, text
    assert dict(query_pg(f'SELECT unique_id, title FROM pinterest."{table}"')) == old  # nothing written
    assert checkpoint.exists()

    meta = materialize_stream(postgres, **config, reset_for_new_topic=True)
    assert meta["offsets_reached"] == {topic: {"0": 8}}
    # exactly the new topic: its newest event per key; the keys only the old topic had are gone
    assert dict(query_pg(f'SELECT unique_id, title FROM pinterest."{table}"')) == \
        {keys[i]: f"new-{i}" for i in range(2, 8)}
    assert query_pg(f'SELECT _kafka_offset FROM pinterest."{table}_rejects" ORDER BY 1') == [(6,), (7,)]
    assert [p.name.startswith("checkpoint.topic-") for p in tmp_path.iterdir()].count(True) == 1
    # the new id is recorded: the next run is an ordinary one
    again = materialize_stream(postgres, **config)
    assert again["rows_upserted"] == 0


def test_pin_stream_writes_to_a_postgres_that_requires_the_password(stack, postgres, new_topic, produce,
                                                                   query_pg):
    """The password comes from PINTEREST_PG_PASSWORD (an EnvVar, never resource config) and every
    connection uses it, the sink's long-lived one included: checked on a role that needs it."""
    import psycopg

    from pinterest_assets.resources.postgres import PostgresResource
    from pinterest_platform.stack.postgres import data_dir

    role, secret = f"pw_{uuid.uuid4().hex[:8]}", "pw s3cret ü"
    hba = data_dir(stack) / "pg_hba.conf"
    original = hba.read_text()
    with postgres.connect(autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{role}\" LOGIN SUPERUSER PASSWORD '{secret}'")  # DDL takes no parameters
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\nhost all {role} ::1/128 scram-sha-256\n"
                   + original)
    try:
        with postgres.connect(autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
        time.sleep(1)
        info = postgres.conninfo()
        dsn = f"postgresql://{role}@{info['host']}:{info['port']}/{info['dbname']}"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(dsn, connect_timeout=5).close()  # the role really needs it
        protected = PostgresResource(dsn=dsn, password=secret)
        topic = new_topic(partitions=1)
        table = f"pin_stream_{uuid.uuid4().hex[:8]}"
        keys = [str(uuid.uuid4()) for _ in range(3)]
        produce(topic, [pin_record(i, keys[i]) for i in range(3)], partition=0)
        meta = materialize_stream(protected, topic=topic, table=table, checkpoint_dir=None)
        assert meta["rows_upserted"] == 3
        assert {r[0] for r in query_pg(f'SELECT unique_id FROM pinterest."{table}"')} == set(keys)
    finally:
        hba.write_text(original)
        with postgres.connect(autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


def test_the_sink_retries_a_batch_on_a_new_connection_when_postgres_dropped_its_own(
        stack, spark, postgres, new_topic, produce, query_pg):
    """Postgres drops the sink's kept connection between two micro-batches (a restart, a failover, an
    idle kill). The next batch fails on its first statement, Spark's rows (several Arrow batches,
    arriving while the first attempt had already failed) are kept, and the batch is written in full,
    once, on a new connection; the values are the newest."""
    from pyspark.sql import functions as F

    from pinterest_assets.stream.postgres_sink import PinStreamSink
    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.ordering import order_column

    topic = new_topic(partitions=3)
    table = f"pin_stream_{uuid.uuid4().hex[:8]}"
    keys = [str(uuid.uuid4()) for _ in range(9)]

    def raw_batch(start: int, end: int):
        records = (spark.read.format("kafka").option("kafka.bootstrap.servers", stack.kafka_bootstrap_servers)
                   .option("subscribe", topic).option("startingOffsets", "earliest").load()
                   .where((F.col("offset") >= start) & (F.col("offset") < end))
                   .select(F.col("value").cast("string").alias("value"), F.col("topic").alias("_topic"),
                           F.col("partition").alias("_partition"), F.col("offset").alias("_offset"),
                           F.col("timestamp").alias("_timestamp"),
                           order_column(None, "partition", "offset").alias("_order")))
        return raw_frame_from_json(records, "value", entity="pin")

    produce(topic, [pin_record(i, k, title=f"v1-{i}") for i, k in enumerate(keys)],
            partitions=[i % 3 for i in range(9)])
    sink = PinStreamSink(postgres=postgres, table=table)
    sink.prepare(raw_batch(0, 3))
    sink(raw_batch(0, 3), 0)
    first_pid = sink._conn.info.backend_pid
    assert query_pg(f'SELECT count(*) FROM pinterest."{table}"') == [(9,)]

    # offsets 3 and up: a newer version of every key (same partitions) and one poison record
    produce(topic, [pin_record(i, k, title=f"v2-{i}") for i, k in enumerate(keys)] + ["not json {"],
            partitions=[i % 3 for i in range(9)] + [0])
    assert query_pg("SELECT pg_terminate_backend(%s)", (first_pid,)) == [(True,)]
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1")  # one Arrow batch per row
    try:
        sink(raw_batch(3, 10), 1)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert sink._conn.info.backend_pid != first_pid
    assert (sink.batches, sink.upserted, sink.rejects) == (2, 18, 1)
    stored = dict(query_pg(f'SELECT unique_id, title FROM pinterest."{table}"'))
    assert stored == {k: f"v2-{i}" for i, k in enumerate(keys)}
    assert query_pg(f'SELECT reason, _kafka_partition, _kafka_offset FROM pinterest."{table}_rejects"') == \
        [("malformed_json", 0, 6)]
    sink.close()


def test_the_warm_up_runs_the_whole_batch_path_on_hostile_samples_without_failing(spark):
    """`pinterest stream` warms the JIT up on sample records before it subscribes: every sample
    becomes exactly one clean or reject line, and bad bytes never stop the start."""
    import json

    values = [json.dumps(pin_record(i)).encode() for i in range(40)]
    values += [b"not json", b"\xff\xfe\x00", b"[1, 2]", json.dumps(pin_record(99, unique_id="nope")).encode(),
               json.dumps(pin_record(98, title="a\tb\\N\u2028" * 1000)).encode()]
    assert warm_up(spark, values, rounds=1, replans=2) == (41, 4)
