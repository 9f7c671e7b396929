"""``pin_stream``: pins streamed from Kafka, cleaned, and upserted into ``pinterest.pin_stream``.

Kafka topic ``pinterest.pin`` -> Spark Structured Streaming (``value`` as text plus ``_topic``,
``_partition``, ``_offset``, ``_timestamp``) -> ``raw_frame_from_json`` -> ``clean_pin`` (the
batch cleaning library, unchanged) -> rows formatted as COPY text (:func:`sink_lines`). That plan
is built ONCE, on the streaming frame, when the query starts: a micro-batch only runs it (building
the cleaning expressions takes thousands of Py4J calls, seconds per batch if done per batch).
Per micro-batch: the lines, handed to Python as Arrow batches ("pieces") as Spark's tasks finish
them (one Spark job) -> one Postgres transaction. Each piece, as it arrives, is COPYed into a temp
table (created once per connection, ``ON COMMIT DELETE ROWS``, so a rolled-back batch leaves
nothing there either) and upserted from it with one statement, so Postgres works while Spark still
computes the other pieces. The upsert keeps the piece's newest row per key in the same log order
as ``latest_per_key`` and only ever moves a row forward, so the order in which pieces arrive
does not matter::

    INSERT INTO pinterest.pin_stream ... SELECT DISTINCT ON (unique_id) ... FROM <temp table>
        ORDER BY unique_id, _kafka_order DESC
        ON CONFLICT (unique_id) DO UPDATE ...
    WHERE excluded._kafka_order > pin_stream._kafka_order

``_kafka_order`` is the one order rule (:mod:`pinterest_assets.ordering`), computed on the
streaming frame from the topic's grow epochs recorded in the lake. The query refuses to start when
the topic's partition count is not the recorded one, and a micro-batch refuses to commit when it
changed while the query ran (``PartitionWatch``): restart after ``pinterest topic grow``.

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
  rows compares *equal* (same ``_kafka_order``) to what is stored, the ``WHERE`` is
  strictly "newer", so no row changes; rejects hit their primary key and are skipped;
* an older event arriving after a newer one (another partition, a replay) never overwrites it.

Atomic batch + deterministic replay + an upsert that only moves forward = every key holds the
newest event exactly once, whatever was interrupted. The same argument covers ``pinterest
stream`` (the same query with a processing-time trigger) and a deleted or fresh checkpoint
(everything is redelivered and changes nothing).

A recreated topic restarts its offsets, which would break both halves (the checkpoint skips the
new topic's first records; the upsert keeps old rows over new events). So the table records the
topic name and Kafka topic id it was built from (``pinterest._stream_sources``) and the query
refuses to start against another one, unless ``reset_for_new_topic`` asks it to empty the table
and its rejects and move the checkpoint aside (checkpoint first: a crash in between leaves the old
id recorded, and the next start refuses again).

Data loss is never skipped silently: ``failOnDataLoss`` is on by default, so if Kafka deleted
messages the checkpoint had not reached yet (retention), the query fails and says so; turning it
off is a logged, explicit choice (the raw lake landing may still hold those records).
"""


import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from pydantic import Field

from dagster_pyspark import LazyPySparkResource

from pinterest_assets import entities as registry
from pinterest_assets.partitions import untaken_reason_column
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.ordering import (
    ORDER_COLUMN,
    STOPPED,
    Epochs,
    PartitionCountChanged,
    checked_epochs,
    count_changed_message,
    order_column,
)
from pinterest_assets.resources.lake import LAYOUT, LakeResource
from pinterest_assets.resources.postgres import (
    COPY_LINE,
    SCHEMA,
    PostgresResource,
    copy_arrow_lines,
    copy_line,
    ensure_table,
    lock_table,
    postgres_type,
)
from pinterest_assets.settings import get_settings

PIN = registry.entity("pin")
KEY = PIN.key
LINEAGE = registry.POSTGRES_LINEAGE  # cleaning lineage column -> pin_stream column
# "Newest" is the one order rule (pinterest_assets.ordering): the highest _order, as in batch and dbt.
NEWEST_ORDER = ("_kafka_order",)
LOADED_AT = ("_loaded_at", "timestamptz NOT NULL DEFAULT now()")


class PinStreamConfig(dg.Config):
    """Run configuration of ``pin_stream`` (also the options of ``pinterest stream``)."""

    topic: str = Field(default=PIN.topic, description="Kafka topic of raw pins")
    table: str = Field(default="pin_stream", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                       description="target table in schema `pinterest` (lower-case letters, digits, _)")
    checkpoint_dir: str | None = Field(
        default=None, description="Spark checkpoint folder (default <PINTEREST_HOME>/checkpoints/<table>)"
    )
    max_offsets_per_trigger: int | None = Field(
        default=100_000, description="at most this many Kafka records per micro-batch (None: no limit)"
    )
    max_records_per_partition: int | None = Field(
        default=10_000, ge=1,
        description="split a micro-batch's Kafka partition ranges into Spark tasks of at most this many "
        "records: a big batch keeps every core busy, and each task's rows are written to Postgres while "
        "the next tasks run (None: one task per Kafka partition)",
    )
    starting_offsets: str = Field(
        default="earliest", description="where a query without a checkpoint starts: earliest | latest | JSON"
    )
    fail_on_data_loss: bool = Field(
        default=True,
        description="fail when Kafka deleted records the checkpoint had not reached (retention); "
        "False skips them with a warning",
    )
    bootstrap_servers: str | None = Field(default=None, description="default: the `kafka` resource's")
    reset_for_new_topic: bool = Field(
        default=False,
        description="when the topic was recreated (a new topic id): empty the table and its rejects, "
        "move the checkpoint aside and rebuild from the new topic (without it such a run fails)",
    )

    def resolved_checkpoint(self) -> str:
        return self.checkpoint_dir or LAYOUT.checkpoint(get_settings().home, self.table)

    def resolved_bootstrap(self, kafka: KafkaResource | None = None) -> str:
        if self.bootstrap_servers:
            return self.bootstrap_servers
        return (kafka or KafkaResource.from_settings()).bootstrap_servers


# --------------------------------------------------------------------------- the streaming frame


def kafka_raw_pins(spark, config: PinStreamConfig, epochs: Epochs | None = None):
    """The streaming raw pin frame: Kafka records as the cleaning library's all-string raw frame.
    A record of a partition `epochs` does not know fails the query (partitions added meanwhile)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", config.resolved_bootstrap())
        .option("subscribe", config.topic)
        .option("startingOffsets", config.starting_offsets)
        .option("failOnDataLoss", str(config.fail_on_data_loss).lower())
        # probably: a task's consumer leaves a fetch parked at the broker for records past its
        # range, and with Kafka's default 500 ms wait the next batch waited for it once the
        # producers paused (a 1.2 s batch instead of 0.25 s in two freshness runs, none in one
        # run with 100 ms; the mechanism is inferred, not traced)
        .option("kafka.fetch.max.wait.ms", "100")
    )
    if config.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(config.max_offsets_per_trigger))
    if config.max_records_per_partition:
        reader = reader.option("maxRecordsPerPartition", str(config.max_records_per_partition))
    return kafka_records_as_raw_pins(reader.load(), epochs, guard=True)


def kafka_records_as_raw_pins(records, epochs: Epochs | None = None, guard: bool = False):
    """Kafka source rows (``value``, ``topic``, ``partition``, ``offset``, ``timestamp``) as the
    cleaning library's all-string raw pin frame, with the lineage columns (``_order`` from `epochs`,
    None: no grow recorded) and ``_landing_reason`` (the landing's rule for the bytes,
    :func:`pinterest_assets.messages.messages_as_json`)."""
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.messages import messages_as_json

    return raw_frame_from_json(messages_as_json(records.select(
        F.col("value"),
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.col("timestamp").alias("_timestamp"),
        order_column(epochs, "partition", "offset", guard=guard).alias(ORDER_COLUMN),
    ), "pin"), "value", entity="pin", parsed="_json")


def warm_up(spark, values: list[bytes], rounds: int = 2, replans: int = 20) -> tuple[int, int]:
    """Run the stream's per-batch work (cleaning, COPY formatting, the Arrow hand-over) on sample
    Kafka values and throw the result away; returns the last round's (clean, reject) line counts.

    A fresh JVM interprets that code at first and compiles it as it gets hot: the first
    micro-batches of a new ``pinterest stream`` ran 4-5x slower than warm ones (100k pins: 19-26 s
    cold, 4-5 s warm), so the stream started minutes behind its input. Warming up before the query
    subscribes moves that cost ahead of the first batch. Nothing is written anywhere.

    Spark also plans the query and generates its code anew for every micro-batch, and on a fresh
    JVM that is slow too (this plan over a static frame: planning 0.86 s the first time, 0.24 s
    the 5th, ~0.1 s from the 30th; code generation 1.7 s, 0.16 s, ~0.06 s). So after the rounds
    the frame is planned and code-generated `replans` more times, without running a job: ~8 s
    more warm-up, and the freshness benchmark's stream caught up with 1,000 ev/s after 45 s of
    load instead of 97 s (one run each)."""
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("value", T.BinaryType()), T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()), T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
    ])
    now = datetime.now(timezone.utc)
    rows = [(bytearray(v), "warm-up", i % 3, i, now) for i, v in enumerate(values)]
    frame = spark.createDataFrame(rows, schema)
    lines = sink_lines(kafka_records_as_raw_pins(frame.repartition(2)))
    made = (0, 0)
    for _ in range(max(1, rounds)):
        made = (0, 0)
        for clean, rejects in line_batches(lines):
            made = (made[0] + len(clean), made[1] + len(rejects))
    if replans > 0:
        # without the shuffle, which adaptive execution would run to plan past it: no job at all
        unshuffled = sink_lines(kafka_records_as_raw_pins(frame))
        for _ in range(replans):
            unshuffled.select("*")._jdf.queryExecution().toRdd()  # a new plan: optimize, plan, codegen
    return made


CLEAN_COLUMNS = [*PIN.columns, *LINEAGE.values()]  # pin_stream, as stored (then _loaded_at)
REJECT_COLUMNS = ["raw", "reason", *LINEAGE.values()]  # pin_stream_rejects, as stored


def sink_view(raw_frame):
    """One row per raw record, as the sink stores it: the cleaner's staged frame with the clean
    columns, the reject columns (``reason`` NULL = clean) and the lineage renamed. A record the
    batch side does not take (for its timestamp, :func:`untaken_reason_column`, or its bytes,
    ``_landing_reason``: the landing's rules) is a reject with the landing's reason. The newest
    row per key is picked by the sink's upsert in Postgres (same log order as ``latest_per_key``),
    which spares Spark a shuffle of the wide rows."""
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import clean

    # a raw frame built without the landing's rule (raw_frame_from_json alone) has no landing reason
    landing = F.col("_landing_reason") if "_landing_reason" in raw_frame.columns else F.lit(None)
    reason = F.coalesce(untaken_reason_column(F.col("_timestamp")), landing, F.col("_reason"))
    return clean("pin", raw_frame).staged.select(
        *PIN.columns, *[F.col(src).alias(dst) for src, dst in LINEAGE.items()],
        F.col("_reject_raw").alias("raw"), reason.alias("reason"),
    )


def sink_lines(raw_frame=None, *, view=None):
    """Each row of :func:`sink_view` as a COPY line in the clean layout or the reject layout (by its
    reason) plus a flag saying which; nothing is cached, no branch re-parses the JSON, and Arrow
    brings both kinds back in one column. `view`: the raw frame's sink_view, if already built."""
    from pyspark.sql import functions as F

    view = sink_view(raw_frame) if view is None else view
    is_clean = F.col("reason").isNull()
    return view.select(
        is_clean.alias("_clean"),
        F.when(is_clean, copy_line(view, CLEAN_COLUMNS)).otherwise(copy_line(view, REJECT_COLUMNS)).alias(COPY_LINE),
    )


def arrow_batches(frame):
    """The frame's Arrow record batches, yielded as Spark's tasks finish them (in any order), so the
    caller works on the first while the others are still computed. The same transfer as
    ``toArrow()`` (pyspark's collectAsArrowToPython), without waiting for the last task. Always
    consume it to the end (or close it): its end joins Spark's job and raises the job's error."""
    import pyarrow as pa
    from pyspark.errors.exceptions.captured import unwrap_spark_exception
    from pyspark.sql.pandas.serializers import ArrowCollectSerializer
    from pyspark.traceback_utils import SCCallSiteSync
    from pyspark.util import _load_from_socket

    with SCCallSiteSync(frame.sparkSession.sparkContext):
        port, secret, server = frame._jdf.collectAsArrowToPython()
    try:
        with _load_from_socket((port, secret), ArrowCollectSerializer()) as stream:
            for item in stream:  # record batches, then the list of their order (not needed)
                if isinstance(item, pa.RecordBatch):
                    yield item
    finally:
        with unwrap_spark_exception():
            server.getResult()  # the job's own error, if it failed


def line_batches(lines_frame):
    """(clean lines, reject lines) per Arrow batch of a :func:`sink_lines` frame, as Spark's tasks
    finish: one Spark job over one scan."""
    import pyarrow.compute as pc

    for batch in arrow_batches(lines_frame):
        flags, lines = batch.column("_clean"), batch.column(COPY_LINE)
        yield lines.filter(flags), lines.filter(pc.invert(flags))


# --------------------------------------------------------------------------- the sink


@dataclass
class BatchReport:
    batch_id: int
    upserted: int
    staged: int
    rejects: int
    seconds: float = 0.0  # wall time of the micro-batch in the sink (Spark + Postgres)
    newest_event: float | None = None  # max Kafka timestamp (epoch s) stored so far
    spark_seconds: float = 0.0  # of `seconds`: until Spark's last Arrow batch arrived (read, clean,
    # format COPY lines; the COPY and upsert of the earlier batches overlap it)
    postgres_seconds: float = 0.0  # of `seconds`: the rest (the last batch's COPY and upsert, commit)


@dataclass
class PartitionWatch:
    """Before each micro-batch commits: the topic still has the partition count the query started
    with (partitions added while it runs would be read with the old epochs)."""

    bootstrap: str
    epochs: Epochs | None
    patience_s: float = 60.0  # a broker restart is waited for, not failed on
    _admin: object = field(default=None, repr=False)

    def partition_count(self) -> int:
        import time

        from kafka import KafkaAdminClient

        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","),
                                                   request_timeout_ms=10000)
                described = self._admin.describe_topics([self.epochs.topic])
                return len(described[0]["partitions"]) if described else 0
            except Exception as exc:  # noqa: BLE001 - any broker trouble: retry, then fail loudly
                self.close()
                if time.monotonic() > deadline:
                    raise dg.Failure(
                        f"could not read the partition count of {self.epochs.topic} from Kafka at "
                        f"{self.bootstrap} for {self.patience_s:.0f}s ({type(exc).__name__}: {exc}); the "
                        "micro-batch was not written and is re-run when the stream restarts") from exc
                time.sleep(1.0)

    def check(self) -> None:
        if self.epochs is None:
            return
        now = self.partition_count()
        if now != self.epochs.partitions:
            raise PartitionCountChanged(count_changed_message(
                PIN.name, self.epochs.topic, self.epochs.partitions, now,
                "this micro-batch was not written; restart the stream after the grow"))

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


STAGE, STAGE_REJECTS = "_pin_stream_stage", "_pin_stream_rejects_stage"
STREAM_SOURCES = "_stream_sources"  # per stream table: the topic (name, Kafka topic id) it was built from


def move_checkpoint_aside(checkpoint: str | None, old_topic_id: str) -> str | None:
    """Rename a local checkpoint folder to ``<folder>.topic-<old id>-<unix time>``; the new path
    (None when there was none). A remote checkpoint must be removed by hand: dg.Failure."""
    import time

    if not checkpoint:
        return None
    path = local_checkpoint_path(checkpoint)
    if path is None:
        raise dg.Failure(f"the checkpoint {checkpoint} is remote: delete it yourself, then run again")
    if not path.exists():
        return None
    aside = path.with_name(f"{path.name}.topic-{old_topic_id[:12]}-{int(time.time())}")
    path.rename(aside)
    return str(aside)


@dataclass
class PinStreamSink:
    """foreachBatch sink: one Postgres transaction per micro-batch (see the module docstring).

    Per batch: ONE Spark job over one scan of the batch turns every clean row and every reject
    into a finished COPY text line (:func:`copy_line`, formatted in the JVM) and hands them to
    Python as Arrow batches, each as soon as its task ends; the newest row per key is picked by the
    upsert in Postgres. Each Arrow batch's buffers are COPYed as they are into a temp table and
    upserted from it while Spark still computes the others (rejects are staged the same way and
    inserted at the end), then the transaction commits. The connection and its temp tables (``ON COMMIT DELETE ROWS``) live
    as long as the sink: no DDL per batch. A broken connection (Postgres restarted) is replaced and
    the batch's transaction retried once; its data is kept in memory as it arrives, and a retry after an
    unknown commit outcome is a no-op by the forward-only upsert.
    """

    postgres: PostgresResource
    table: str = "pin_stream"
    schema_name: str = SCHEMA
    on_batch: Callable[[BatchReport], None] | None = None
    batches: int = 0
    upserted: int = 0
    staged: int = 0
    rejects: int = 0
    newest_event: float | None = None
    spark_seconds: float = 0.0
    postgres_seconds: float = 0.0
    watch: PartitionWatch | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _conn: object = field(default=None, repr=False)
    owner: object = field(default=None, repr=False)  # CheckpointOwner held while the query runs

    @property
    def target(self) -> tuple[str, str]:
        return (self.schema_name, self.table)

    @property
    def rejects_table(self) -> tuple[str, str]:
        return (self.schema_name, f"{self.table}_rejects")

    def prepare(self, raw_stream=None, *, view=None, source: tuple[str, str] | None = None,
                checkpoint: str | None = None, reset: bool = False, log=None) -> None:
        """Create both tables (types from the cleaned frame's schema) before the first batch, and
        check that the table was built from this very topic (`source`: name and Kafka topic id).
        `view`: the raw frame's :func:`sink_view` if already built (building it takes seconds)."""
        schema = (sink_view(raw_stream) if view is None else view).schema  # only the schema: nothing runs
        with self.postgres.connect() as conn, conn.cursor() as cur:
            lock_table(cur, self.target)
            ensure_table(
                cur, self.target,
                [*[(c, postgres_type(schema[c].dataType)) for c in CLEAN_COLUMNS], LOADED_AT],
                [KEY], indexes=list(PIN.indexes),
            )
            ensure_table(
                cur, self.rejects_table,
                [*[(c, postgres_type(schema[c].dataType)) for c in REJECT_COLUMNS], LOADED_AT],
                ["_kafka_topic", "_kafka_partition", "_kafka_offset"], indexes=["reason"],
            )
            if source is not None:
                self._check_source(cur, source, checkpoint, reset, log)

    def _check_source(self, cur, source: tuple[str, str], checkpoint: str | None, reset: bool, log) -> None:
        """A recreated topic restarts its offsets: the checkpoint would skip the new topic's first
        records and the forward-only upsert would keep old rows over new events. So the table
        records the topic id it was built from, and a different one stops the run (or, asked to,
        empties the table and moves the checkpoint aside: checkpoint first, so a crash in between
        leaves the old id recorded and the next run refuses again)."""
        from psycopg import sql

        cur.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (target text PRIMARY KEY, topic text NOT NULL, "
            "topic_id text NOT NULL, since timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(self.schema_name, STREAM_SOURCES)))
        target = f"{self.schema_name}.{self.table}"
        row = cur.execute(sql.SQL("SELECT topic, topic_id FROM {} WHERE target = %s")
                          .format(sql.Identifier(self.schema_name, STREAM_SOURCES)), (target,)).fetchone()
        if row is not None and tuple(row) != tuple(source):
            what = (f"{target} was built from topic {row[0]} (id {row[1]}); Kafka now has {source[0]} "
                    f"with id {source[1]}")
            if not reset:
                raise dg.Failure(
                    f"{what}. A recreated topic restarts its offsets: the checkpoint would skip its "
                    "first records and the newest-wins upsert would keep the old rows. Nothing was "
                    "written. To rebuild the table from the new topic, run again with "
                    "reset_for_new_topic=True (`pinterest stream --reset-for-new-topic`): it empties "
                    f"{target} and its rejects and moves the checkpoint aside.")
            moved = move_checkpoint_aside(checkpoint, row[1])
            for table in (self.target, self.rejects_table):
                cur.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(*table)))
            if log is not None:
                log.warning(f"{what}: {target} and its rejects emptied, checkpoint moved to {moved}; "
                            "rebuilding from the new topic")
        cur.execute(sql.SQL(
            "INSERT INTO {} (target, topic, topic_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (target) DO UPDATE SET topic = EXCLUDED.topic, topic_id = EXCLUDED.topic_id, "
            "since = now() WHERE ({}.topic, {}.topic_id) <> (EXCLUDED.topic, EXCLUDED.topic_id)"
        ).format(sql.Identifier(self.schema_name, STREAM_SOURCES), sql.Identifier(STREAM_SOURCES),
                 sql.Identifier(STREAM_SOURCES)), (target, *source))

    # ---- the connection, kept across batches

    def _connection(self):
        from psycopg import sql

        if self._conn is not None and not self._conn.closed:
            return self._conn
        # the resource's own connect: its password (PINTEREST_PG_PASSWORD) and its error message
        conn = self.postgres.open(autocommit=True, application_name=f"{self.postgres.application_name}:{self.table}")
        for temp, like in ((STAGE, self.target), (STAGE_REJECTS, self.rejects_table)):
            conn.execute(sql.SQL(
                "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ).format(sql.Identifier(temp), sql.Identifier(*like)))
        self._conn = conn
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the batch connection and give up the checkpoint (its owner lock)."""
        self._drop_connection()
        if self.owner is not None:
            self.owner.close()
            self.owner = None
        if self.watch is not None:
            self.watch.close()

    # ---- one micro-batch

    def __call__(self, batch_df, batch_id: int) -> None:
        import time

        import psycopg

        started = time.perf_counter()
        # the query hands over sink_lines frames; a raw frame (a direct caller) is formatted here
        lines = batch_df if COPY_LINE in batch_df.columns else sink_lines(batch_df)
        arriving = line_batches(lines)  # COPYed into the temp tables while Spark computes the rest
        kept = []  # every piece received, for a retry

        def feed():
            for piece in arriving:
                kept.append(piece)
                yield piece

        try:
            for attempt in (1, 2):
                try:
                    upserted, staged, rejected, newest, received = self._write(feed() if attempt == 1 else kept)
                    break
                except psycopg.OperationalError:
                    self._drop_connection()  # rolled back (or committed: then the retry changes nothing)
                    if attempt == 2:
                        raise
                    kept.extend(arriving)  # the rest of the batch; the retry sends all of it again
        finally:
            arriving.close()  # joins the Spark job (raises its error) if it was not read to the end
        spark_seconds = received - started
        seconds = time.perf_counter() - started
        with self._lock:
            self.batches += 1
            self.upserted += upserted
            self.staged += staged
            self.rejects += rejected
            self.spark_seconds += spark_seconds
            self.postgres_seconds += seconds - spark_seconds
            if newest is not None and (self.newest_event is None or newest > self.newest_event):
                self.newest_event = newest
        if self.on_batch:
            self.on_batch(BatchReport(batch_id, upserted, staged, rejected, seconds, self.newest_event,
                                      spark_seconds, seconds - spark_seconds))

    def _write(self, pieces):
        """The batch's one transaction: each piece, as it arrives, is COPYed into the temp table and
        upserted from there (Postgres works while Spark computes the next pieces), its rejects
        staged; then the rejects are inserted and the transaction commits. Pieces may come in any
        order: the upsert only moves forward. Returns the counts (upserted = distinct keys that
        changed), the newest event and when the last piece arrived (perf_counter)."""
        import time

        from psycopg import sql

        conn = self._connection()
        staged = rejected = 0
        changed: set = set()
        newest = None
        received = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for clean_lines, reject_lines in pieces:
                received = time.perf_counter()
                rejected += copy_arrow_lines(cur, (STAGE_REJECTS,), REJECT_COLUMNS, reject_lines)
                copied = copy_arrow_lines(cur, (STAGE,), CLEAN_COLUMNS, clean_lines)
                if not copied:
                    continue
                staged += copied
                changed.update(self._upsert(cur, STAGE, CLEAN_COLUMNS))
                piece_newest = cur.execute(sql.SQL(
                    "SELECT extract(epoch FROM max(_kafka_timestamp))::float8 FROM {}"
                ).format(sql.Identifier(STAGE))).fetchone()[0]
                newest = piece_newest if newest is None else max(newest, piece_newest)
                cur.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(STAGE)))
            if rejected:
                cur.execute(sql.SQL(
                    "INSERT INTO {} ({cols}) SELECT {cols} FROM {} ON CONFLICT DO NOTHING"
                ).format(sql.Identifier(*self.rejects_table), sql.Identifier(STAGE_REJECTS),
                         cols=sql.SQL(", ").join(map(sql.Identifier, REJECT_COLUMNS))))
            if self.watch is not None:
                self.watch.check()  # raises: the transaction rolls back
        return len(changed), staged, rejected, newest, received

    def _upsert(self, cur, stage: str, columns: list[str]) -> list:
        """Upsert the stage's newest row per key; the keys that changed."""
        from psycopg import sql

        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns if c != KEY
        )
        newer = sql.SQL("({}) > ({})").format(
            sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in NEWEST_ORDER),
            sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in NEWEST_ORDER),
        )
        # the batch's newest row per key (log order, as latest_per_key): ON CONFLICT may touch a row once
        newest_first = sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(c)) for c in NEWEST_ORDER)
        cur.execute("SET LOCAL work_mem = '256MB'")  # the sort of a 100k-row batch stays in memory
        cur.execute(sql.SQL(
            "INSERT INTO {target} AS t ({cols}) SELECT DISTINCT ON ({key}) {cols} FROM {stage} "
            "ORDER BY {key}, {newest_first} "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}, _loaded_at = now() WHERE {newer} RETURNING {key}"
        ).format(target=sql.Identifier(*self.target), cols=cols, stage=sql.Identifier(stage),
                 key=sql.Identifier(KEY), updates=updates, newer=newer, newest_first=newest_first))
        return [row[0] for row in cur.fetchall()]


# --------------------------------------------------------------------------- running the query


def local_checkpoint_path(checkpoint: str | os.PathLike) -> Path | None:
    """The folder of a local checkpoint (a plain path or ``file://``); None for a remote one
    (``s3a://``, ``hdfs://``, ...)."""
    text = str(checkpoint)
    if "://" in text and not text.startswith("file://"):
        return None
    return Path(text.removeprefix("file://"))


def committed_offsets(checkpoint: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Kafka offsets the checkpoint has committed: ``{topic: {partition: next offset}}``.

    Read from the newest ``commits/<n>`` and its ``offsets/<n>`` entry ({} before the first batch).
    """
    root = local_checkpoint_path(checkpoint)
    if root is None:
        return {}  # a remote checkpoint (s3a://...): Spark's own progress reports cover it
    commits = [int(p.name) for p in (root / "commits").glob("[0-9]*") if p.name.isdigit()]
    if not commits:
        return {}
    lines = (root / "offsets" / str(max(commits))).read_text().strip().splitlines()
    offsets = json.loads(lines[-1])  # v1 / batch metadata / one line per source
    return {topic: {p: int(o) for p, o in parts.items()} for topic, parts in offsets.items()}


def batch_offsets(checkpoint: str | os.PathLike, batch_id: int) -> dict[str, dict[str, int]]:
    """The end offsets of micro-batch `batch_id` (Spark writes ``offsets/<n>`` before running it):
    what the checkpoint has committed once that batch commits. {} if unknown (remote checkpoint)."""
    root = local_checkpoint_path(checkpoint)
    if root is None:
        return {}
    path = root / "offsets" / str(batch_id)
    try:
        offsets = json.loads(path.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return {}
    return {topic: {p: int(o) for p, o in parts.items()} for topic, parts in offsets.items()}


class KafkaLag:
    """Records behind: Kafka end offsets of the topic minus given (committed) offsets.

    One kafka-python consumer (no group, nothing committed) kept for the probe's life.
    """

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self._consumer = None
        self._partitions = None

    def end_offsets(self) -> dict[str, int]:
        from kafka import KafkaConsumer, TopicPartition

        if self._consumer is None:
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                           request_timeout_ms=10000)
        if not self._partitions:
            parts = self._consumer.partitions_for_topic(self.topic) or set()
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(parts)]
        ends = self._consumer.end_offsets(self._partitions) if self._partitions else {}
        return {str(tp.partition): int(o) for tp, o in ends.items()}

    def behind(self, committed: dict[str, dict[str, int]]) -> int:
        done = committed.get(self.topic, {})
        return sum(max(0, end - done.get(p, 0)) for p, end in self.end_offsets().items())

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


class CheckpointInUse(dg.Failure):
    """Another running pin_stream query owns the checkpoint."""


class CheckpointOwner:
    """Exactly one running pin_stream query per checkpoint: a session-level Postgres advisory lock
    on the checkpoint's path, held by a dedicated connection while the query runs. A crashed
    owner's connection closes, and Postgres releases the lock with it."""

    LOCK_CLASS = 0x70696E  # "pin": the first key of the two-key advisory lock space

    def __init__(self, postgres: PostgresResource, checkpoint: str, who: str):
        self.checkpoint = checkpoint_lock_name(checkpoint)
        self.conn = postgres.open(autocommit=True, application_name=f"pin_stream owner: {who}"[:63])
        try:
            taken = self.conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                      (self.LOCK_CLASS, self.checkpoint)).fetchone()[0]
            if not taken:
                holder = self.conn.execute(
                    "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = %s "
                    "AND l.objid = hashtext(%s)::oid", (self.LOCK_CLASS, self.checkpoint)).fetchone()
                who_holds = (f"{holder[0].removeprefix('pin_stream owner: ')} (Postgres backend {holder[1]})"
                             if holder else "another process")
                raise CheckpointInUse(
                    f"not started: the pin_stream checkpoint {self.checkpoint} is in use by {who_holds}; "
                    "stop that stream (or let that run finish), or give this one its own checkpoint")
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()  # ends the session: the lock goes with it


def checkpoint_lock_name(checkpoint: str) -> str:
    """One name per checkpoint: a local one as its absolute resolved path, a remote one as given."""
    local = local_checkpoint_path(checkpoint)
    return str(local.resolve()) if local is not None else str(checkpoint).rstrip("/")


def start_pin_stream(spark, config: PinStreamConfig, postgres: PostgresResource, *,
                     trigger: dict, on_batch: Callable[[BatchReport], None] | None = None, log=None,
                     owner: "str | CheckpointOwner | None" = None, lake: LakeResource | None = None):
    """Start the query; returns (StreamingQuery, PinStreamSink). `trigger` as for writeStream.trigger.
    `lake` holds the topic's order epochs (default: the settings' lake).

    The checkpoint is taken first (:class:`CheckpointOwner`; `owner` is one already taken, or the
    name of this process in the message another starter gets); ``sink.close()`` gives it up.
    CheckpointInUse when another query holds it."""
    import socket

    lock = owner if isinstance(owner, CheckpointOwner) else CheckpointOwner(
        postgres, config.resolved_checkpoint(), owner or f"pid {os.getpid()} on {socket.gethostname()}")
    try:
        return _start_query(spark, config, postgres, trigger=trigger, on_batch=on_batch, log=log, lock=lock,
                            lake=lake or LakeResource.from_settings())
    except BaseException:
        lock.close()
        raise


def _start_query(spark, config: PinStreamConfig, postgres: PostgresResource, *,
                 trigger: dict, on_batch: Callable[[BatchReport], None] | None, log, lock: CheckpointOwner,
                 lake: LakeResource):
    if not config.fail_on_data_loss and log is not None:
        log.warning(
            f"failOnDataLoss is off for {config.topic}: records Kafka deleted before this query read "
            "them will be skipped (check the raw lake landing for them)"
        )
    epochs = stream_epochs(config, lake)
    raw = kafka_raw_pins(spark, config, epochs)
    sink = PinStreamSink(postgres=postgres, table=config.table, on_batch=on_batch, owner=lock,
                         watch=PartitionWatch(config.resolved_bootstrap(), epochs))
    checkpoint = config.resolved_checkpoint()
    source = current_topic_id(config)
    view = sink_view(raw)  # the cleaning plan is built here, once, not per micro-batch
    sink.prepare(view=view, source=source, checkpoint=checkpoint, reset=config.reset_for_new_topic, log=log)
    prepare_checkpoint(spark, checkpoint)
    query = (
        sink_lines(view=view).writeStream.queryName(f"pin_stream_{config.table}")
        .option("checkpointLocation", checkpoint)
        .foreachBatch(sink)
        .trigger(**trigger)
        .start()
    )
    return query, sink


CHECKPOINT_MANAGER_CONF = "spark.sql.streaming.checkpointFileManagerClass"
LOCAL_CHECKPOINT_MANAGER = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager")


def prepare_checkpoint(spark, checkpoint: str) -> None:
    """Create a local checkpoint's folder (a remote one is left to Spark: ``s3a://b/cp`` must not
    become a local folder ``s3a:/b/cp``), and pick the checkpoint manager for it.

    A local checkpoint is written through Hadoop's FileSystem API rather than Spark's default,
    the FileContext API.

    Without its native library (pip's pyspark ships none) Hadoop's local file system forks a
    process for each permission change and link lookup. Per log file (strace of the driver) the
    FileContext path forks 10 times, 2 ``chmod`` (the file and its ``.crc``) and 8 ``readlink``
    (its rename resolves links): ~65 ms for ``offsets/<n>`` and as much for ``commits/<n>``, out
    of a ~650 ms micro-batch. The FileSystem manager forks only the 2 ``chmod`` and needs ~18 ms
    for each (``durationMs`` of ``walCommit`` and ``commitOffsets``, a trivial query on this
    2-core machine). It writes the same way: a temp file, then a rename, which
    is atomic on a local file system, and it refuses to replace an existing log entry, so the
    exactly-once argument above holds unchanged. Remote checkpoints (s3a://, hdfs://) keep Spark's
    default. The setting is read when a query starts."""
    local = local_checkpoint_path(checkpoint)
    if local is None:
        spark.conf.unset(CHECKPOINT_MANAGER_CONF)
    else:
        local.mkdir(parents=True, exist_ok=True)
        spark.conf.set(CHECKPOINT_MANAGER_CONF, LOCAL_CHECKPOINT_MANAGER)


def stream_epochs(config: PinStreamConfig, lake: LakeResource) -> Epochs | None:
    """The topic's order epochs; fails when its partition count is not the recorded one."""
    kafka = KafkaResource(bootstrap_servers=config.resolved_bootstrap())
    with kafka.consumer() as consumer:
        offsets = kafka.offset_ranges(consumer, config.topic)
    if offsets is None:
        return None  # Spark says the topic is missing
    return checked_epochs(lake, PIN.name, config.topic, len(offsets.ranges), "nothing was streamed")


def current_topic_id(config: PinStreamConfig) -> tuple[str, str] | None:
    """(topic, its Kafka topic id) now; None when the topic does not exist (Spark says so) or the
    broker gives no ids. Bounded: a dead broker is a clear dg.Failure, not a hang."""
    kafka = KafkaResource(bootstrap_servers=config.resolved_bootstrap())
    with kafka.consumer() as consumer:
        offsets = kafka.offset_ranges(consumer, config.topic)
    if offsets is None or not offsets.topic_id:
        return None
    return config.topic, offsets.topic_id


def explain_stream_failure(exc: Exception, config: PinStreamConfig) -> str:
    text = str(exc)
    if STOPPED in text:
        return text[text.index(STOPPED):].splitlines()[0]
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
    group_name=registry.GROUP,
    kinds={"spark", "postgres"},
    owners=registry.OWNERS,
    deps=[PIN.topic_asset],
    description=(
        "Pins streamed from Kafka `pinterest.pin` through the shared cleaning library and upserted "
        "into Postgres `pinterest.pin_stream` (primary key unique_id, newest event wins, Kafka "
        "partition/offset/timestamp kept). Each materialization processes everything new "
        "(trigger availableNow) and ends; the checkpoint plus the forward-only upsert make restarts "
        "exactly-once. `pinterest stream` runs the same query continuously; while it runs it owns "
        "the checkpoint, and this asset leaves the work to it (no materialization, the step succeeds)."
    ),
    output_required=False,
    metadata={
        "table": f"{SCHEMA}.pin_stream",
        "rejects_table": f"{SCHEMA}.pin_stream_rejects",
        "primary_key": KEY,
        "source_topic": PIN.topic,
    },
)
def pin_stream(context: dg.AssetExecutionContext, config: PinStreamConfig, kafka: KafkaResource,
               pyspark: LazyPySparkResource, postgres: PostgresResource, lake: LakeResource):
    spark = pyspark.spark_session
    if not config.bootstrap_servers:
        config = config.model_copy(update={"bootstrap_servers": kafka.bootstrap_servers})
    before = committed_offsets(config.resolved_checkpoint())
    try:
        query, sink = start_pin_stream(
            spark, config, postgres, trigger={"availableNow": True},
            on_batch=lambda r: context.log.info(
                f"batch {r.batch_id}: {r.staged} keys staged, {r.upserted} upserted, {r.rejects} rejects"),
            log=context.log, owner=f"Dagster run {context.run_id[:8]} ({context.job_name})", lake=lake,
        )
    except CheckpointInUse as exc:  # a running `pinterest stream` does this work: leave it to it
        context.log.info(f"pin_stream left to the running stream ({exc.description})")
        return
    try:
        query.awaitTermination()
    except Exception as exc:  # StreamingQueryException: Spark's message, plus what to do
        raise dg.Failure(explain_stream_failure(exc, config)) from exc
    finally:
        if query.isActive:
            query.stop()
        sink.close()
    after = committed_offsets(config.resolved_checkpoint())
    from psycopg import sql

    with postgres.connect() as conn:
        total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(SCHEMA, config.table))).fetchone()[0]
    yield dg.MaterializeResult(
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
