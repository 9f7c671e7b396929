"""The Postgres sink: each micro-batch is one transaction that upserts by key, only forward.

Invariant: a row moves only to a higher ``_kafka_order``, so a re-run batch changes nothing
(docs/decisions.md, "pin_stream exactly-once").
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from pinterest_assets.postgres_copy import (
    COPY_LINE,
    copy_arrow_lines,
    copy_line,
    ensure_table,
    lock_table,
    postgres_type,
)
from pinterest_assets.resources.postgres import SCHEMA, PostgresResource
from pinterest_assets.stream.checkpoint import move_checkpoint_aside
from pinterest_assets.stream.config import PIN
from pinterest_assets.stream.rows import CLEAN_COLUMNS, REJECT_COLUMNS, sink_view
from pinterest_assets.stream.sink import BatchReport

KEY = PIN.key
# "Newest" is the one order rule (pinterest_assets.ordering): the highest _order, as in batch and dbt.
NEWEST_ORDER = ("_kafka_order",)
LOADED_AT = ("_loaded_at", "timestamptz NOT NULL DEFAULT now()")


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
        # pyspark 4.1: the stream itself (the socket closes when it is garbage-collected)
        for item in _load_from_socket((port, secret), ArrowCollectSerializer()):
            if isinstance(item, pa.RecordBatch):  # record batches, then the list of their order
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



STAGE, STAGE_REJECTS = "_pin_stream_stage", "_pin_stream_rejects_stage"
STREAM_SOURCES = "_stream_sources"  # per stream table: the topic (name, Kafka topic id) it was built from



@dataclass
class PinStreamSink:
    """foreachBatch sink (:class:`pinterest_assets.stream.sink.Sink`): one Postgres transaction per
    micro-batch into ``pinterest.<table>`` (primary key unique_id), rejects into ``<table>_rejects``.

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
    watch: object = None  # PartitionWatch, set by the query: checked before each commit
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _conn: object = field(default=None, repr=False)
    owner: object = field(default=None, repr=False)  # CheckpointOwner held while the query runs

    @property
    def target(self) -> tuple[str, str]:
        return (self.schema_name, self.table)

    @property
    def rejects_table(self) -> tuple[str, str]:
        return (self.schema_name, f"{self.table}_rejects")

    def batch_frame(self, view):
        return sink_lines(view=view)

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

