"""The cleaned layer as Apache Iceberg tables: ``<catalog>.pinterest.<asset>`` (and
``<asset>_rejects``), partitioned by ``date``, in the lake's JDBC catalog
(:mod:`pinterest_assets.resources.iceberg`), data and metadata under the lake URI.

One day of a table is replaced by write-audit-publish (:class:`DayCommit`):

1. the day's rows go to the audit branch ``audit_<day>`` of each table (a branch a crash left is
   dropped and made again from ``main``), as one ``overwrite(date = day)``: ``main``, what every
   reader sees, does not change;
2. the blocking checks read the branch (:meth:`DayCommit.staged`); a failing check publishes nothing;
3. publish: ``fast_forward`` of ``main`` to the branch, the rejects table first, the data last:
   each one commit of the catalog (one row of ``iceberg_tables`` updated in PostgreSQL);
4. the audit branches are dropped.

A crash at any step leaves each table valid (old or new day, whole); a rerun drops the branches it
finds and completes. Writers of one table on one machine are serialized with a lock file; a writer
elsewhere makes ``fast_forward`` fail (``main`` moved), never a mix.

Crash tests stop the process after each of :data:`CRASH_STEPS` (``pinterest_assets.crash_hooks``).
"""

import fcntl
import json
import logging

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from pinterest_assets.crash_hooks import crash_point
from pinterest_assets.resources.lake import PARTITION_COLUMN, LakeResource

log = logging.getLogger(__name__)

NAMESPACE = "pinterest"
CRASH_STEPS = ("after_data", "after_rejects", "after_checks", "after_publish_rejects",
               "after_publish", "after_cleanup")


# Kafka lineage columns are stored as ``_kafka_*`` (as in the Postgres tables): Iceberg reserves
# ``_partition`` for a metadata column. Readers here get the project's names back.
LINEAGE_IN_TABLE = {c: f"_kafka_{c[1:]}" for c in ("_topic", "_partition", "_offset", "_timestamp", "_order")}


def _to_table(df):
    return df.withColumnsRenamed({c: t for c, t in LINEAGE_IN_TABLE.items() if c in df.columns})


def _from_table(df):
    return df.withColumnsRenamed({t: c for c, t in LINEAGE_IN_TABLE.items() if t in df.columns})


def table_name(lake: LakeResource, asset: str, rejects: bool = False) -> str:
    """Spark's name of an asset's table (``lake.pinterest.cleaned_pin``)."""
    return f"{lake.catalog_name}.{NAMESPACE}.{asset}{'_rejects' if rejects else ''}"


def cleaned_table(lake: LakeResource, entity: str, rejects: bool = False) -> str:
    return table_name(lake, f"cleaned_{entity}", rejects)


def use_catalog(spark, lake: LakeResource) -> None:
    """Register the lake's Iceberg catalog in this session (idempotent)."""
    from pinterest_assets.resources.iceberg import register_catalog

    register_catalog(spark, lake.catalog_name, lake.root, lake.catalog_dsn())


def table_exists(spark, lake: LakeResource, table: str) -> bool:
    use_catalog(spark, lake)
    return spark.catalog.tableExists(table)


def _nullable(schema):
    """The schema with every field (and array element / map value) nullable: a table column stays
    writable whatever nullability one day's plan infers."""
    from pyspark.sql.types import StructType

    def relax(node):
        if isinstance(node, dict):
            node = {k: relax(v) for k, v in node.items()}
            for flag in ("nullable", "containsNull", "valueContainsNull"):
                if flag in node:
                    node[flag] = True
        elif isinstance(node, list):
            node = [relax(v) for v in node]
        return node

    return StructType.fromJson(relax(json.loads(schema.json())))


def ensure_table(spark, lake: LakeResource, table: str, df, partitioned: bool = True) -> None:
    """Create `table` (Iceberg v2, partitioned by ``date``) from `df`'s columns if it is missing."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    if table_exists(spark, lake, table):
        return
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {lake.catalog_name}.{NAMESPACE}")
    empty = spark.createDataFrame([], _nullable(df.schema))
    writer = empty.writeTo(table).using("iceberg").tableProperty("format-version", "2")
    if partitioned:
        writer = empty.withColumn(PARTITION_COLUMN, F.lit(None).cast("date")).writeTo(table).using(
            "iceberg").tableProperty("format-version", "2").partitionedBy(F.col(PARTITION_COLUMN))
    try:
        writer.create()
    except AnalysisException as exc:
        if "ALREADY_EXISTS" not in str(exc):
            raise


class DayCommit:
    """One day replaced in one or more tables by write-audit-publish (see the module docstring).

    ::

        with DayCommit(spark, lake, "cleaned_pin", "2026-01-01") as day:
            day.write(clean, cleaned_table(lake, "pin"))
            day.write(rejects, cleaned_table(lake, "pin", rejects=True), step="rejects")
            ...checks on day.staged(cleaned_table(lake, "pin"))...
            day.publish()

    Leaving the block without :meth:`publish` drops the audit branches: nothing was published.
    `day` None replaces the whole (unpartitioned) table.
    """

    def __init__(self, spark, lake: LakeResource, lock_name: str, day: str | None):
        self.spark, self.lake, self.day = spark, lake, day
        self.branch = "audit_" + (day.replace("-", "") if day else "all")
        self.lock_name = f"table-{lake.catalog_name}-{lock_name}"
        self.tables: list[str] = []
        self.published = False
        self._lock = None

    def __enter__(self) -> "DayCommit":
        use_catalog(self.spark, self.lake)
        self._lock = open(self.lake.local_lock_path(self.lock_name), "w")  # noqa: SIM115 - held until __exit__
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if not self.published:
                self.drop_branches()
        finally:
            if self._lock is not None:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
                self._lock = None

    def _day_filter(self):
        from pyspark.sql import functions as F

        if self.day is None:
            return F.lit(True)
        return F.col(PARTITION_COLUMN) == F.lit(self.day).cast("date")

    def write(self, df, table: str, step: str = "data") -> None:
        """Write `df` as the day's rows of `table` on the audit branch (``main`` unchanged)."""
        from pyspark.sql import functions as F

        if self.published:
            raise RuntimeError(f"{table} {self.day}: already published")
        df = _to_table(df)
        ensure_table(self.spark, self.lake, table, df, partitioned=self.day is not None)
        self.spark.sql(f"ALTER TABLE {table} DROP BRANCH IF EXISTS {self.branch}")
        self.spark.sql(f"ALTER TABLE {table} CREATE BRANCH {self.branch}")
        if self.day is not None:
            df = df.withColumn(PARTITION_COLUMN, F.lit(self.day).cast("date"))
        df.writeTo(f"{table}.branch_{self.branch}").overwrite(self._day_filter())
        self.tables.append(table)
        crash_point(f"after_{step}")

    def staged(self, table: str):
        """The day's rows of `table` on the audit branch (what publishing will show), without ``date``."""
        frame = _from_table(self.spark.read.option("branch", self.branch).table(table).where(self._day_filter()))
        return frame.drop(PARTITION_COLUMN) if self.day is not None else frame

    def publish(self) -> None:
        """Fast-forward ``main`` of each table to its audit branch (the last one written first: the
        data, written first, is published last), then drop the branches."""
        if not self.tables:
            raise RuntimeError("nothing written: write the day before publishing")
        for i, table in enumerate(reversed(self.tables)):
            catalog, ident = table.split(".", 1)
            self.spark.sql(f"CALL {catalog}.system.fast_forward(table => '{ident}', branch => 'main', "
                           f"to => '{self.branch}')")
            if i == 0 and len(self.tables) > 1:
                crash_point("after_publish_rejects")
        self.published = True
        crash_point("after_publish")
        self.drop_branches()
        crash_point("after_cleanup")

    def drop_branches(self) -> None:
        """Drop this day's audit branches (best effort: a rerun drops what is left)."""
        for table in dict.fromkeys(self.tables):
            try:
                self.spark.sql(f"ALTER TABLE {table} DROP BRANCH IF EXISTS {self.branch}")
            except Exception as exc:  # noqa: BLE001
                log.warning("could not drop branch %s of %s (the next write does): %s", self.branch, table, exc)


def read_table(spark, lake: LakeResource, table: str, dates=None):
    """The rows of `table` on ``main`` (every day, or `dates`), with the ``date`` column;
    None when the table does not exist."""
    from pyspark.sql import functions as F

    if not table_exists(spark, lake, table):
        return None
    frame = _from_table(spark.table(table))
    if dates is not None:
        frame = frame.where(F.col(PARTITION_COLUMN).isin([F.lit(d).cast("date") for d in dates]))
    return frame


def read_cleaned(spark, lake: LakeResource, entity: str, dates=None):
    """The committed cleaned rows of `entity` (every day, or `dates`) with ``date``; None = no table."""
    return read_table(spark, lake, cleaned_table(lake, entity), dates)


def read_cleaned_rejects(spark, lake: LakeResource, entity: str, dates=None):
    """The committed rejects of `entity`'s cleaning, with ``date``; None = no table."""
    return read_table(spark, lake, cleaned_table(lake, entity, rejects=True), dates)


def read_cleaned_day(spark, lake: LakeResource, entity: str, date: str, rejects: bool = False):
    """One committed day of `entity`'s cleaned table (or its rejects) without ``date``; None = no table."""
    frame = read_table(spark, lake, cleaned_table(lake, entity, rejects), [date])
    return None if frame is None else frame.drop(PARTITION_COLUMN)


class LakeTableIOManager(dg.ConfigurableIOManager):
    """Spark DataFrames as Iceberg tables of the lake, ``<catalog>.pinterest.<asset name>``, one day
    replaced per write (write-audit-publish, :class:`DayCommit`); reads follow ``main``."""

    lake: dg.ResourceDependency[LakeResource]
    pyspark: dg.ResourceDependency[LazyPySparkResource]

    def table(self, asset_key: dg.AssetKey) -> str:
        return table_name(self.lake, "_".join(asset_key.path))

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        from pyspark.sql import DataFrame

        if obj is None:
            return  # an asset that wrote its data itself
        if not isinstance(obj, DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; the lake IO "
                "manager stores Spark DataFrames only"
            )
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        if len(keys) > 1:  # a single-run backfill: the frame's `date` column splits it into days
            return self._handle_days(context, obj, keys)
        partition = keys[0]
        if partition is not None and PARTITION_COLUMN in obj.columns:
            raise ValueError(
                f"{context.asset_key.to_user_string()} has a column named {PARTITION_COLUMN!r}, "
                "which the lake table uses for the partition: rename it"
            )
        table = self.table(context.asset_key)
        with DayCommit(self.pyspark.spark_session, self.lake, table, partition) as day:
            day.write(obj, table)
            day.publish()
        context.add_output_metadata({"table": table})

    def _handle_days(self, context: dg.OutputContext, obj, keys: list[str]) -> None:
        """Several days in one output: each day's rows (by the ``date`` column) replace that day,
        one commit per day; a row of another day fails before any write."""
        from pyspark.sql import functions as F

        name = context.asset_key.to_user_string()
        if PARTITION_COLUMN not in obj.columns:
            raise ValueError(f"{name}: an output of {len(keys)} days needs a {PARTITION_COLUMN!r} column "
                             "saying each row's day")
        day_text = F.date_format(F.col(PARTITION_COLUMN).cast("date"), "yyyy-MM-dd")
        outside = obj.where(day_text.isNull() | ~day_text.isin(*keys)).limit(1).collect()
        if outside:
            raise ValueError(f"{name}: a row of {outside[0][PARTITION_COLUMN]!r}, not one of the run's days "
                             f"{keys[0]}..{keys[-1]}")
        table = self.table(context.asset_key)
        for key in keys:
            with DayCommit(self.pyspark.spark_session, self.lake, table, key) as day:
                day.write(obj.where(day_text == key).drop(PARTITION_COLUMN), table)
                day.publish()
        context.add_output_metadata({"table": table, "days": len(keys)})

    def load_input(self, context: dg.InputContext):
        spark = self.pyspark.spark_session
        key = context.asset_key
        table = self.table(key)
        if not table_exists(spark, self.lake, table):
            raise dg.Failure(f"no table {table} for {key.to_user_string()}: materialize "
                             f"{key.to_user_string()} first")
        if not context.has_asset_partitions:
            return _from_table(spark.table(table))
        keys = list(context.asset_partition_keys)
        frame = read_table(spark, self.lake, table, keys)
        return frame.drop(PARTITION_COLUMN) if len(keys) == 1 else frame
