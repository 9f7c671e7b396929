"""``pin_stream``: pins streamed from Kafka, cleaned, and upserted into ``pinterest.pin_stream``.

Kafka topic ``pinterest.pin`` -> Spark Structured Streaming (``value`` as text plus ``_topic``,
``_partition``, ``_offset``, ``_timestamp``) -> ``raw_frame_from_json`` -> per micro-batch:
``clean_pin`` (the batch cleaning library, unchanged) and ``latest_per_key`` -> one Postgres
transaction that COPYs the batch into a temp table and upserts it::

    INSERT INTO pinterest.pin_stream ... ON CONFLICT (unique_id) DO UPDATE ...
    WHERE (excluded._kafka_timestamp, excluded._kafka_partition, excluded._kafka_offset)
        > (pin_stream._kafka_timestamp, pin_stream._kafka_partition, pin_stream._kafka_offset)

Rejected records go to ``pinterest.pin_stream_rejects`` (primary key topic, partition, offset;
``ON CONFLICT DO NOTHING``) in the same transaction.

Why this is exactly-once across a crash at any point
----------------------------------------------------
Spark writes a micro-batch's offset range to the checkpoint's ``offsets/<batch>`` log *before*
running it and ``commits/<batch>`` only *after* ``foreachBatch`` returned. A restart re-runs any
batch that has an offsets entry but no commit with exactly the same offset range (Kafka data is
immutable), and never re-reads a committed range. So every record is *delivered* at least once
and a crash can at worst make Spark deliver one batch again. The sink makes that redelivery a
no-op:

* crash before the Postgres commit: the transaction rolls back, nothing of the batch is visible,
  and the batch is re-run in full;
* crash after the Postgres commit but before Spark's commit: the batch is re-run; each of its
  rows compares *equal* (same timestamp, partition, offset) to what is stored, the ``WHERE`` is
  strictly "newer", so no row changes; rejects hit their primary key and are skipped;
* an older event arriving after a newer one (another partition, a replay) never overwrites it.

Atomic batch + deterministic replay + an upsert that only moves forward = every key holds the
newest event exactly once, whatever was interrupted. The same argument covers ``pinterest
stream`` (the same query with a processing-time trigger) and a deleted or fresh checkpoint
(everything is redelivered and changes nothing).

Data loss is never skipped silently: ``failOnDataLoss`` is on by default, so if Kafka deleted
messages the checkpoint had not reached yet (retention), the query fails and says so; turning it
off is a logged, explicit choice (the raw lake landing may still hold those records).
"""


import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from pydantic import Field

from pinterest_assets.io_managers.postgres import copy_into, copy_rows, ensure_table, lock_table, postgres_type
from pinterest_assets.resources.postgres import SCHEMA, PostgresResource
from pinterest_assets.settings import TOPICS, get_settings

KEY = "unique_id"
LINEAGE = {  # cleaning lineage column -> pin_stream column
    "_topic": "_kafka_topic",
    "_partition": "_kafka_partition",
    "_offset": "_kafka_offset",
    "_timestamp": "_kafka_timestamp",
}
NEWEST_ORDER = ("_kafka_timestamp", "_kafka_partition", "_kafka_offset")
LOADED_AT = ("_loaded_at", "timestamptz NOT NULL DEFAULT now()")


class PinStreamConfig(dg.Config):
    """Run configuration of ``pin_stream`` (also the options of ``pinterest stream``)."""

    topic: str = Field(default=TOPICS["pin"], description="Kafka topic of raw pins")
    table: str = Field(default="pin_stream", description="target table in schema `pinterest`")
    checkpoint_dir: str | None = Field(
        default=None, description="Spark checkpoint folder (default <PINTEREST_HOME>/checkpoints/<table>)"
    )
    max_offsets_per_trigger: int | None = Field(
        default=100_000, description="at most this many Kafka records per micro-batch (None: no limit)"
    )
    starting_offsets: str = Field(
        default="earliest", description="where a query without a checkpoint starts: earliest | latest | JSON"
    )
    fail_on_data_loss: bool = Field(
        default=True,
        description="fail when Kafka deleted records the checkpoint had not reached (retention); "
        "False skips them with a warning",
    )
    bootstrap_servers: str | None = Field(default=None, description="default: PINTEREST_KAFKA_BOOTSTRAP / local stack")

    def resolved_checkpoint(self) -> str:
        return self.checkpoint_dir or str(get_settings().home / "checkpoints" / self.table)

    def resolved_bootstrap(self) -> str:
        return self.bootstrap_servers or get_settings().kafka_bootstrap_servers


# --------------------------------------------------------------------------- the streaming frame


def kafka_raw_pins(spark, config: PinStreamConfig):
    """The streaming raw pin frame: Kafka records as the cleaning library's all-string raw frame."""
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import raw_frame_from_json

    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", config.resolved_bootstrap())
        .option("subscribe", config.topic)
        .option("startingOffsets", config.starting_offsets)
        .option("failOnDataLoss", str(config.fail_on_data_loss).lower())
    )
    if config.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(config.max_offsets_per_trigger))
    records = reader.load().select(
        F.col("value").cast("string").alias("value"),
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.col("timestamp").alias("_timestamp"),
    )
    return raw_frame_from_json(records, "value", entity="pin")


def stream_tables(raw_frame) -> tuple[object, object]:
    """(clean, rejects) frames of a raw batch as stored: newest row per key, lineage renamed."""
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import OUTPUT_COLUMNS, clean_pin, latest_per_key

    clean, rejects = clean_pin(raw_frame)
    newest = latest_per_key(clean, "pin")
    lineage = [F.col(src).alias(dst) for src, dst in LINEAGE.items()]
    return (
        newest.select(*OUTPUT_COLUMNS["pin"], *lineage),
        rejects.select("raw", "reason", *lineage),
    )


# --------------------------------------------------------------------------- the sink


@dataclass
class BatchReport:
    batch_id: int
    upserted: int
    staged: int
    rejects: int


@dataclass
class PinStreamSink:
    """foreachBatch sink: one Postgres transaction per micro-batch (see the module docstring)."""

    postgres: PostgresResource
    table: str = "pin_stream"
    schema_name: str = SCHEMA
    on_batch: Callable[[BatchReport], None] | None = None
    batches: int = 0
    upserted: int = 0
    staged: int = 0
    rejects: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def target(self) -> tuple[str, str]:
        return (self.schema_name, self.table)

    @property
    def rejects_table(self) -> tuple[str, str]:
        return (self.schema_name, f"{self.table}_rejects")

    def prepare(self, raw_stream) -> None:
        """Create both tables (types from the cleaned frame's schema) before the first batch."""
        clean, rejects = stream_tables(raw_stream)  # only the schema is used: nothing runs
        with self.postgres.connect() as conn, conn.cursor() as cur:
            lock_table(cur, self.target)
            ensure_table(
                cur, self.target,
                [*[(f.name, postgres_type(f.dataType)) for f in clean.schema.fields], LOADED_AT],
                [KEY], indexes=["category", "poster_name"],
            )
            ensure_table(
                cur, self.rejects_table,
                [*[(f.name, postgres_type(f.dataType)) for f in rejects.schema.fields], LOADED_AT],
                ["_kafka_topic", "_kafka_partition", "_kafka_offset"], indexes=["reason"],
            )

    def __call__(self, batch_df, batch_id: int) -> None:
        from psycopg import sql
        from pyspark import StorageLevel

        raw = batch_df.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            clean, rejects = stream_tables(raw)
            clean_cols, reject_cols = clean.columns, rejects.columns
            with self.postgres.connect() as conn, conn.cursor() as cur:
                stage, stage_rejects = f"{self.table}_stage", f"{self.table}_rejects_stage"
                for temp, like in ((stage, self.target), (stage_rejects, self.rejects_table)):
                    cur.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                        sql.Identifier(temp), sql.Identifier(*like)))
                staged = copy_into(cur, (stage,), clean_cols, copy_rows(clean))
                # rejects are few: one partition is one Spark job instead of one per Kafka partition
                rejected = copy_into(cur, (stage_rejects,), reject_cols, copy_rows(rejects.coalesce(1)))
                upserted = self._upsert(cur, stage, clean_cols) if staged else 0
                if rejected:
                    cur.execute(sql.SQL(
                        "INSERT INTO {} ({cols}) SELECT {cols} FROM {} ON CONFLICT DO NOTHING"
                    ).format(sql.Identifier(*self.rejects_table), sql.Identifier(stage_rejects),
                             cols=sql.SQL(", ").join(map(sql.Identifier, reject_cols))))
        finally:
            raw.unpersist()
        with self._lock:
            self.batches += 1
            self.upserted += upserted
            self.staged += staged
            self.rejects += rejected
        if self.on_batch:
            self.on_batch(BatchReport(batch_id, upserted, staged, rejected))

    def _upsert(self, cur, stage: str, columns: list[str]) -> int:
        from psycopg import sql

        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns if c != KEY
        )
        newer = sql.SQL("({}) > ({})").format(
            sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in NEWEST_ORDER),
            sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in NEWEST_ORDER),
        )
        cur.execute(sql.SQL(
            "INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {stage} "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}, _loaded_at = now() WHERE {newer}"
        ).format(target=sql.Identifier(*self.target), cols=cols, stage=sql.Identifier(stage),
                 key=sql.Identifier(KEY), updates=updates, newer=newer))
        return cur.rowcount


# --------------------------------------------------------------------------- running the query


def committed_offsets(checkpoint: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Kafka offsets the checkpoint has committed: ``{topic: {partition: next offset}}``.

    Read from the newest ``commits/<n>`` and its ``offsets/<n>`` entry ({} before the first batch).
    """
    text = str(checkpoint)
    if "://" in text and not text.startswith("file://"):
        return {}  # a remote checkpoint (s3a://...): Spark's own progress reports cover it
    root = Path(text.removeprefix("file://"))
    commits = [int(p.name) for p in (root / "commits").glob("[0-9]*") if p.name.isdigit()]
    if not commits:
        return {}
    lines = (root / "offsets" / str(max(commits))).read_text().strip().splitlines()
    offsets = json.loads(lines[-1])  # v1 / batch metadata / one line per source
    return {topic: {p: int(o) for p, o in parts.items()} for topic, parts in offsets.items()}


def start_pin_stream(spark, config: PinStreamConfig, postgres: PostgresResource, *,
                     trigger: dict, on_batch: Callable[[BatchReport], None] | None = None, log=None):
    """Start the query; returns (StreamingQuery, PinStreamSink). `trigger` as for writeStream.trigger."""
    if not config.fail_on_data_loss and log is not None:
        log.warning(
            f"failOnDataLoss is off for {config.topic}: records Kafka deleted before this query read "
            "them will be skipped (check the raw lake landing for them)"
        )
    raw = kafka_raw_pins(spark, config)
    sink = PinStreamSink(postgres=postgres, table=config.table, on_batch=on_batch)
    sink.prepare(raw)
    checkpoint = config.resolved_checkpoint()
    Path(checkpoint.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    query = (
        raw.writeStream.queryName(f"pin_stream_{config.table}")
        .option("checkpointLocation", checkpoint)
        .foreachBatch(sink)
        .trigger(**trigger)
        .start()
    )
    return query, sink


def explain_stream_failure(exc: Exception, config: PinStreamConfig) -> str:
    text = str(exc)
    if "concurrently using" in text:
        return (
            f"another query is already running on the checkpoint {config.resolved_checkpoint()} "
            "(a `pinterest stream` process or another pin_stream run?): stop it, or give this run "
            "its own checkpoint_dir"
        )
    if "data loss" in text.lower() or "OffsetOutOfRange" in text:
        return (
            f"Kafka no longer holds records of {config.topic} that the checkpoint "
            f"{config.resolved_checkpoint()} had not read yet (retention deleted them). Nothing was "
            "skipped: recover them from the raw lake landing, or rerun with fail_on_data_loss=False "
            f"to skip them knowingly. Spark said: {text[:500]}"
        )
    return f"pin_stream query failed: {text[:2000]}"


# --------------------------------------------------------------------------- the asset


@dg.asset(
    group_name="pinterest",
    kinds={"spark", "kafka", "postgres"},
    owners=["team:data-engineering"],
    description=(
        "Pins streamed from Kafka `pinterest.pin` through the shared cleaning library and upserted "
        "into Postgres `pinterest.pin_stream` (primary key unique_id, newest event wins, Kafka "
        "partition/offset/timestamp kept). Each materialization processes everything new "
        "(trigger availableNow) and ends; the checkpoint plus the forward-only upsert make restarts "
        "exactly-once. `pinterest stream` runs the same query continuously."
    ),
    metadata={
        "table": f"{SCHEMA}.pin_stream",
        "rejects_table": f"{SCHEMA}.pin_stream_rejects",
        "primary_key": KEY,
        "source_topic": TOPICS["pin"],
    },
)
def pin_stream(context: dg.AssetExecutionContext, config: PinStreamConfig,
               postgres: PostgresResource) -> dg.MaterializeResult:
    from pinterest_assets.resources.spark import build_spark_session

    spark = build_spark_session()
    before = committed_offsets(config.resolved_checkpoint())
    query, sink = start_pin_stream(
        spark, config, postgres, trigger={"availableNow": True},
        on_batch=lambda r: context.log.info(
            f"batch {r.batch_id}: {r.staged} keys staged, {r.upserted} upserted, {r.rejects} rejects"),
        log=context.log,
    )
    try:
        query.awaitTermination()
    except Exception as exc:  # StreamingQueryException: Spark's message, plus what to do
        raise dg.Failure(explain_stream_failure(exc, config)) from exc
    finally:
        if query.isActive:
            query.stop()
    after = committed_offsets(config.resolved_checkpoint())
    with postgres.connect() as conn:
        total = conn.execute(f'SELECT count(*) FROM "{SCHEMA}"."{config.table}"').fetchone()[0]
    return dg.MaterializeResult(
        metadata={
            "rows_upserted": sink.upserted,
            "keys_staged": sink.staged,
            "rejects": sink.rejects,
            "batches": sink.batches,
            "offsets_before": dg.MetadataValue.json(before),
            "offsets_reached": dg.MetadataValue.json(after),
            "table": f"{SCHEMA}.{config.table}",
            "dagster/row_count": total,
            "checkpoint": config.resolved_checkpoint(),
        }
    )


STREAM_ASSETS = [pin_stream]
